/**
 * The Lua scripts of the cluster's steps, and the names of the keys they
 * use. Every script touches the keys of one hash slot only (a room's, or
 * one nick's), so that it stays one atomic step on Redis Cluster as on a
 * single Redis; what spans slots is made of several steps (see the README:
 * "what is atomic where").
 *
 * Keys, for cluster `C` (`--cluster`, default `parley`), room key `R` and
 * node `N`; `{...}` is the hash tag that keeps a room's (a node's) keys in
 * one slot:
 *
 * | key | type | holds |
 * | --- | --- | --- |
 * | `C:room:{R}:seq` | string | the room's last event number |
 * | `C:room:{R}:epoch` | string | the room's numbering epoch |
 * | `C:room:{R}:stream` | stream | the room's last events, id `SEQ-1` (history, gap fill) |
 * | `C:room:{R}:members` | sorted set | member refs, scored by join order |
 * | `C:room:{R}:records` | hash | member ref → `{"n": nick, "r": room key, "m": room name}` |
 * | `C:room:{R}:name`, `C:room:{R}:joins` | strings | the room's first name, join order |
 * | `C:rooms` | hash | room key → name, for rooms with members (refreshed by every heartbeat) |
 * | `C:nick:K` | string | the ref holding nick key `K` |
 * | `C:node:{N}` | string | node `N` is alive (expires unless refreshed) |
 * | `C:node:{N}:members` | hash | member ref → room key, for node `N`'s members in a room |
 * | `C:node:{N}:nicks` | set | nick keys node `N`'s members hold |
 * | `C:nodes` | set | node ids |
 * | `C:guests` | string | guest numbers |
 *
 * Channels: `C:room:{R}` (room events: `EPOCH SEQ PAYLOAD`), `C:node:{N}`
 * (direct events for node `N`'s members); sharded (`SPUBLISH`) on Redis
 * Cluster, so that an event crosses only its room's shard.
 *
 * @module
 */

/** The key names of cluster `cluster`. */
export function clusterKeys(cluster: string) {
  const room = (key: string) => `${cluster}:room:{${key}}`;
  const node = (id: string) => `${cluster}:node:{${id}}`;
  return {
    prefix: cluster,
    seq: (key: string) => `${room(key)}:seq`,
    epoch: (key: string) => `${room(key)}:epoch`,
    stream: (key: string) => `${room(key)}:stream`,
    roomMembers: (key: string) => `${room(key)}:members`,
    roomRecords: (key: string) => `${room(key)}:records`,
    roomName: (key: string) => `${room(key)}:name`,
    roomJoins: (key: string) => `${room(key)}:joins`,
    roomChannel: room,
    /** The room key of a room channel. */
    roomOfChannel: (channel: string) => channel.slice(`${cluster}:room:{`.length, -1),
    rooms: `${cluster}:rooms`,
    nick: (key: string) => `${cluster}:nick:${key}`,
    node,
    nodeMembers: (id: string) => `${node(id)}:members`,
    nodeNicks: (id: string) => `${node(id)}:nicks`,
    reaper: (id: string) => `${node(id)}:reaper`,
    nodeChannel: node,
    nodes: `${cluster}:nodes`,
    guests: `${cluster}:guests`,
  };
}

/** The keys of one cluster. */
export type ClusterKeys = ReturnType<typeof clusterKeys>;

/**
 * Numbers, stores and publishes one room event, in one step. A room gets
 * its epoch when first entered: an event for a room without one (emptied
 * meanwhile, or Redis restarted empty) is dropped, and the room's keys
 * stay deleted; the default room takes a new epoch instead. KEYS: seq,
 * stream, epoch. ARGV: channel, payload, stream length, a new epoch (for
 * the default room), `1` for the default room, the publish command
 * (`PUBLISH`, or `SPUBLISH` on Redis Cluster). Returns `{epoch, seq}`, or
 * `{"", 0}` when dropped.
 */
export const PUBLISH = `
local epoch = redis.call('GET', KEYS[3])
if not epoch then
  if ARGV[5] ~= '1' then return {'', 0} end
  epoch = ARGV[4]
  redis.call('SET', KEYS[3], epoch)
end
local seq = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], seq .. '-1', 'p', ARGV[2])
redis.call(ARGV[6], ARGV[1], epoch .. ' ' .. seq .. ' ' .. ARGV[2])
return {epoch, seq}
`;

/**
 * Puts a member in a room (idempotent: a member already there keeps its
 * place), gives the room an epoch if it has none, and reads its history in
 * the same step. KEYS (the room's): records, members, name, joins, seq,
 * stream, epoch. ARGV: ref, nick, room key, room name, stream entries to
 * read back for history (0: none), a new epoch. Returns
 * the room's name, its event number now (the joiner's history cursor),
 * each member's record in join order, and the payloads of the stream's
 * last entries up to the cursor, newest first.
 */
export const ENTER = `
redis.call('SET', KEYS[7], ARGV[6], 'NX')
redis.call('SETNX', KEYS[3], ARGV[4])
local name = redis.call('GET', KEYS[3])
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode({n = ARGV[2], r = ARGV[3], m = name}))
if not redis.call('ZSCORE', KEYS[2], ARGV[1]) then
  redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[4]), ARGV[1])
end
local refs = redis.call('ZRANGE', KEYS[2], 0, -1)
local cursor = tonumber(redis.call('GET', KEYS[5]) or '0')
local members = {}
if #refs > 0 then
  local records = redis.call('HMGET', KEYS[1], unpack(refs))
  for i = 1, #records do
    if records[i] then members[#members + 1] = records[i] end
  end
end
local history = {}
if tonumber(ARGV[5]) > 0 and cursor > 0 then
  local entries = redis.call('XREVRANGE', KEYS[6], cursor .. '-1', '-', 'COUNT', ARGV[5])
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
 * Takes a member out of a room; an emptied room other than the default one
 * is forgotten, with its history. KEYS (the room's): records, members,
 * seq, epoch, stream, name, joins. ARGV: ref, `1` for the default room.
 * Returns the members left and the member's record (false when it was not
 * there).
 */
export const EXIT = `
local record = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
local left = redis.call('ZCARD', KEYS[2])
if left == 0 and ARGV[2] ~= '1' then
  redis.call('DEL', KEYS[1], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7])
end
return {left, record}
`;

/** The nicks of a room's members in join order. KEYS: room members, room records. */
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

/**
 * Claims a nick key for a ref (again, if it already holds it): exactly one
 * winner. KEYS: nick. ARGV: ref. Returns 1, or 0 when another holds it.
 */
export const CLAIM = `
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
return 1
`;

/**
 * Frees a nick key held by a ref, or (ARGV[2] = `node`) by any member of
 * node ARGV[1]. KEYS: nick. ARGV: ref or node id, `ref` or `node`.
 */
export const RELEASE = `
local holder = redis.call('GET', KEYS[1])
if not holder then return 0 end
if holder == ARGV[1] or (ARGV[2] == 'node' and string.sub(holder, 1, #ARGV[1] + 1) == ARGV[1] .. '/') then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`;

/** Records a member's new nick in its room record. KEYS: room records. ARGV: ref, nick. */
export const RENAME_RECORD = `
local record = redis.call('HGET', KEYS[1], ARGV[1])
if not record then return 0 end
local decoded = cjson.decode(record)
decoded.n = ARGV[2]
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(decoded))
return 1
`;

/** The KEYS of {@linkcode ENTER}. */
export function enterKeys(keys: ClusterKeys, roomKey: string): string[] {
  return [
    keys.roomRecords(roomKey),
    keys.roomMembers(roomKey),
    keys.roomName(roomKey),
    keys.roomJoins(roomKey),
    keys.seq(roomKey),
    keys.stream(roomKey),
    keys.epoch(roomKey),
  ];
}

/** The KEYS of {@linkcode EXIT}. */
export function exitKeys(keys: ClusterKeys, roomKey: string): string[] {
  return [
    keys.roomRecords(roomKey),
    keys.roomMembers(roomKey),
    keys.seq(roomKey),
    keys.epoch(roomKey),
    keys.stream(roomKey),
    keys.roomName(roomKey),
    keys.roomJoins(roomKey),
  ];
}
