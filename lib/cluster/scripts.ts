/**
 * The Lua scripts that make each cluster step atomic in Redis, and the
 * names of the keys they use.
 *
 * Keys, for cluster `C` (`--cluster`, default `parley`):
 *
 * | key | type | holds |
 * | --- | --- | --- |
 * | `C:room:R:seq` | string | the room's last event number |
 * | `C:room:R:epoch` | string | the room's numbering epoch |
 * | `C:room:R:stream` | stream | the room's last events, id `SEQ-1` (history, gap fill) |
 * | `C:room:R:members` | sorted set | member refs, scored by join order |
 * | `C:rooms` | hash | room key → name, for rooms with members |
 * | `C:members` | hash | member ref → `{"n": nick, "r": room key, "m": room name}` |
 * | `C:nick:K` | string | the ref holding nick key `K` |
 * | `C:node:N` | string | node `N` is alive (expires unless refreshed) |
 * | `C:node:N:members`, `C:node:N:nicks` | sets | what node `N` holds |
 * | `C:nodes` | set | node ids |
 * | `C:guests`, `C:joins` | strings | guest numbers, join order |
 *
 * Channels: `C:room:R` (room events: `EPOCH SEQ PAYLOAD`), `C:node:N`
 * (direct events for node `N`'s members).
 *
 * @module
 */

/** The key names of cluster `cluster`. */
export function clusterKeys(cluster: string) {
  const room = (key: string) => `${cluster}:room:${key}`;
  return {
    prefix: cluster,
    seq: (key: string) => `${room(key)}:seq`,
    epoch: (key: string) => `${room(key)}:epoch`,
    stream: (key: string) => `${room(key)}:stream`,
    roomMembers: (key: string) => `${room(key)}:members`,
    roomChannel: (key: string) => room(key),
    rooms: `${cluster}:rooms`,
    members: `${cluster}:members`,
    nick: (key: string) => `${cluster}:nick:${key}`,
    node: (id: string) => `${cluster}:node:${id}`,
    nodeMembers: (id: string) => `${cluster}:node:${id}:members`,
    nodeNicks: (id: string) => `${cluster}:node:${id}:nicks`,
    reaper: (id: string) => `${cluster}:node:${id}:reaper`,
    nodeChannel: (id: string) => `${cluster}:node:${id}`,
    nodes: `${cluster}:nodes`,
    guests: `${cluster}:guests`,
    joins: `${cluster}:joins`,
  };
}

/** The keys of one cluster. */
export type ClusterKeys = ReturnType<typeof clusterKeys>;

/**
 * Numbers, stores and publishes one room event, in one step; an event for
 * a room emptied meanwhile (but the default one) is dropped: nobody is
 * there to hear it, and the room's keys stay deleted. KEYS: seq, stream,
 * epoch, room members. ARGV: channel, payload, stream length, a new epoch
 * (used if the room has none), `1` for the default room. Returns
 * `{epoch, seq}`, or `{"", 0}` when dropped.
 */
export const PUBLISH = `
if ARGV[5] ~= '1' and redis.call('EXISTS', KEYS[4]) == 0 then return {'', 0} end
local epoch = redis.call('GET', KEYS[3])
if not epoch then
  epoch = ARGV[4]
  redis.call('SET', KEYS[3], epoch)
end
local seq = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], seq .. '-1', 'p', ARGV[2])
redis.call('PUBLISH', ARGV[1], epoch .. ' ' .. seq .. ' ' .. ARGV[2])
return {epoch, seq}
`;

/**
 * Puts a member in a room (idempotent: a member already there keeps its
 * place), and reads its history in the same step. KEYS: members, room
 * members, rooms, node members, joins, room seq, room stream. ARGV: ref,
 * nick, room key, room name, stream entries to read back for history (0:
 * none). Returns the room's name, its event number now (the joiner's
 * history cursor), each member's record in join order, and the payloads
 * of the stream's last entries up to the cursor, newest first.
 */
export const ENTER = `
redis.call('HSETNX', KEYS[3], ARGV[3], ARGV[4])
local name = redis.call('HGET', KEYS[3], ARGV[3])
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode({n = ARGV[2], r = ARGV[3], m = name}))
if not redis.call('ZSCORE', KEYS[2], ARGV[1]) then
  redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[5]), ARGV[1])
end
redis.call('SADD', KEYS[4], ARGV[1])
local refs = redis.call('ZRANGE', KEYS[2], 0, -1)
local cursor = tonumber(redis.call('GET', KEYS[6]) or '0')
local members = {}
if #refs > 0 then
  local records = redis.call('HMGET', KEYS[1], unpack(refs))
  for i = 1, #records do
    if records[i] then members[#members + 1] = records[i] end
  end
end
local history = {}
if tonumber(ARGV[5]) > 0 and cursor > 0 then
  local entries = redis.call('XREVRANGE', KEYS[7], cursor .. '-1', '-', 'COUNT', ARGV[5])
  for i = 1, #entries do
    local fields = entries[i][2]
    for f = 1, #fields, 2 do
      if fields[f] == 'p' then history[#history + 1] = fields[f + 1] end
    end
  end
end
return {name, cursor, members, history}
`;

/**
 * Lua shared by EXIT and REAP: takes `ref` out of room `room` (`keys`: its
 * members, seq, epoch and stream keys); an emptied room other than the
 * default one is forgotten, with its history. Returns the members left.
 */
const LEAVE_ROOM = `
local function leave_room(ref, rooms, room, default_room, keys)
  redis.call('ZREM', keys[1], ref)
  local left = redis.call('ZCARD', keys[1])
  if left == 0 then
    redis.call('HDEL', rooms, room)
    if room ~= default_room then redis.call('DEL', keys[2], keys[3], keys[4]) end
  end
  return left
end
`;

/**
 * Takes a member out of its room. KEYS: members, room members, rooms, node
 * members, seq, epoch, stream. ARGV: ref, room key, default room key.
 * Returns the members left; an emptied room other than the default one is
 * forgotten, with its history.
 */
export const EXIT = `${LEAVE_ROOM}
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[4], ARGV[1])
return leave_room(ARGV[1], KEYS[3], ARGV[2], ARGV[3], {KEYS[2], KEYS[5], KEYS[6], KEYS[7]})
`;

/** The nicks of a room's members in join order. KEYS: room members, members. */
export const MEMBERS = `
local refs = redis.call('ZRANGE', KEYS[1], 0, -1)
if #refs == 0 then return {} end
local records = redis.call('HMGET', KEYS[2], unpack(refs))
local out = {}
for i = 1, #records do
  if records[i] then out[#out + 1] = records[i] end
end
return out
`;

/** Every room with members: name and count, in pairs. KEYS: rooms. ARGV: room members key prefix. */
export const ROOMS = `
local rooms = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 1, #rooms, 2 do
  out[#out + 1] = rooms[i + 1]
  out[#out + 1] = redis.call('ZCARD', ARGV[1] .. rooms[i] .. ':members')
end
return out
`;

/**
 * Claims a nick key for a ref (again, if it already holds it). KEYS: nick,
 * node nicks. ARGV: ref, nick key. Returns 1, or 0 when another holds it.
 * (A guest nick, and every nick again after an outage.)
 */
export const CLAIM = `
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[2])
return 1
`;

/** Frees a nick key held by a ref. KEYS: nick, node nicks. ARGV: ref, nick key. */
export const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
redis.call('SREM', KEYS[2], ARGV[2])
return 1
`;

/**
 * A rename, in one step: claims the new nick key, frees the old one (held
 * by the ref) and records the new nick in the member's record. KEYS: new
 * nick, old nick, node nicks, members. ARGV: ref, new nick key, old nick
 * key, nick. Returns 1, or 0 (and changes nothing) when another holds the
 * new nick.
 */
export const RENAME = `
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[2])
if ARGV[3] ~= ARGV[2] then
  if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
  redis.call('SREM', KEYS[3], ARGV[3])
end
local record = redis.call('HGET', KEYS[4], ARGV[1])
if record then
  local decoded = cjson.decode(record)
  decoded.n = ARGV[4]
  redis.call('HSET', KEYS[4], ARGV[1], cjson.encode(decoded))
end
return 1
`;

/**
 * Removes a dead node's members and nicks (the caller won the reaper
 * lock); a room it leaves empty (but the default one) is forgotten with
 * its history. KEYS: node members, node nicks, members, nodes, node,
 * rooms. ARGV: node id, room key prefix (`C:room:`), default room key,
 * nick key prefix (`C:nick:`). Returns, per member, its room key, room
 * name, nick and the members left in that room.
 */
export const REAP = `${LEAVE_ROOM}
local out = {}
for _, ref in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local record = redis.call('HGET', KEYS[3], ref)
  redis.call('HDEL', KEYS[3], ref)
  if record then
    local member = cjson.decode(record)
    local room = ARGV[2] .. member.r -- as clusterKeys names a room's keys
    local left = leave_room(ref, KEYS[6], member.r, ARGV[3], {
      room .. ':members', room .. ':seq', room .. ':epoch', room .. ':stream'})
    out[#out + 1] = member.r
    out[#out + 1] = member.m
    out[#out + 1] = member.n
    out[#out + 1] = left
  end
end
for _, key in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local nick = ARGV[4] .. key
  local holder = redis.call('GET', nick)
  if holder and string.sub(holder, 1, #ARGV[1] + 1) == ARGV[1] .. '/' then
    redis.call('DEL', nick)
  end
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[5])
redis.call('SREM', KEYS[4], ARGV[1])
return out
`;

/** KEYS[1..4] of both ENTER and EXIT: where a member's place in a room is kept. */
function placeKeys(keys: ClusterKeys, nodeId: string, roomKey: string): string[] {
  return [keys.members, keys.roomMembers(roomKey), keys.rooms, keys.nodeMembers(nodeId)];
}

/** The KEYS of {@linkcode ENTER} for a member of node `nodeId`. */
export function enterKeys(keys: ClusterKeys, nodeId: string, roomKey: string): string[] {
  return [
    ...placeKeys(keys, nodeId, roomKey),
    keys.joins,
    keys.seq(roomKey),
    keys.stream(roomKey),
  ];
}

/** The KEYS of {@linkcode EXIT} for a member of node `nodeId`. */
export function exitKeys(keys: ClusterKeys, nodeId: string, roomKey: string): string[] {
  return [
    ...placeKeys(keys, nodeId, roomKey),
    keys.seq(roomKey),
    keys.epoch(roomKey),
    keys.stream(roomKey),
  ];
}

/** The KEYS of {@linkcode CLAIM} and of {@linkcode RELEASE}. */
export function nickKeys(keys: ClusterKeys, nodeId: string, nickKey: string): string[] {
  return [keys.nick(nickKey), keys.nodeNicks(nodeId)];
}
