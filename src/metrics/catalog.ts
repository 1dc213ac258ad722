/**
 * Every metric a raftkv node exports: name, type, help text, label names and histogram buckets.
 * One table, read by every recorder (Prometheus, memory) so names cannot drift between them.
 *
 * Conventions (Prometheus): base units (seconds, bytes), counters end in `_total`, label values
 * are bounded sets (a peer id, a role, a method name, an outcome).
 */

export type MetricType = "counter" | "gauge" | "histogram"

export interface MetricDef {
  readonly name: string
  readonly type: MetricType
  readonly help: string
  readonly labels: ReadonlyArray<string>
  /** Histogram bucket upper bounds (ascending); only for histograms. */
  readonly buckets?: ReadonlyArray<number>
}

/** Latencies from a sub-millisecond fsync or RPC up to ten seconds. */
export const latencyBuckets: ReadonlyArray<number> = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10
]

/** Elections take a few timeouts (hundreds of ms to seconds), longer while partitioned. */
export const electionBuckets: ReadonlyArray<number> = [0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30, 60]

/** Snapshots of a few KiB take a millisecond; of gigabytes, a minute. */
export const snapshotBuckets: ReadonlyArray<number> = [
  0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60
]

/** Sizes of batches (entries per synced write, events per loop turn): powers of two. */
export const batchBuckets: ReadonlyArray<number> = [
  1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192
]

const counter = (name: string, help: string, labels: ReadonlyArray<string> = []): MetricDef => ({
  name,
  type: "counter",
  help,
  labels
})
const gauge = (name: string, help: string, labels: ReadonlyArray<string> = []): MetricDef => ({
  name,
  type: "gauge",
  help,
  labels
})
const histogram = (
  name: string,
  help: string,
  buckets: ReadonlyArray<number>,
  labels: ReadonlyArray<string> = []
): MetricDef => ({ name, type: "histogram", help, labels, buckets })

/** Raft metrics, derived by the runtime from the core's events, commands and state. */
export const raftMetrics = {
  term: gauge("raftkv_raft_term", "Current Raft term of this node."),
  role: gauge("raftkv_raft_role", "1 for the role this node is in, 0 for the others.", ["role"]),
  leaderChanges: counter(
    "raftkv_raft_leader_changes_total",
    "Times this node learned of a leader different from the last one it knew (leader or term)."
  ),
  electionsStarted: counter(
    "raftkv_raft_elections_started_total",
    "Elections this node started as a candidate (each one a new term; pre-votes are not counted)."
  ),
  electionDuration: histogram(
    "raftkv_raft_election_duration_seconds",
    "From this node starting to campaign (pre-vote or vote) until it knows a leader again.",
    electionBuckets
  ),
  commitIndex: gauge("raftkv_raft_commit_index", "Highest log index known committed."),
  appliedIndex: gauge("raftkv_raft_applied_index", "Highest log index applied to the state machine."),
  commitLatency: histogram(
    "raftkv_raft_commit_latency_seconds",
    "Leader: from a proposal being appended to its log until it is committed (one per proposal).",
    latencyBuckets
  ),
  applyLatency: histogram(
    "raftkv_raft_apply_latency_seconds",
    "From an entry being known committed until it is applied (one per entry).",
    latencyBuckets
  ),
  persistDuration: histogram(
    "raftkv_raft_persist_duration_seconds",
    "Duration of one synced write batch (group commit of log entries, hard state, snapshot chunks).",
    latencyBuckets
  ),
  persistBatchEntries: histogram(
    "raftkv_raft_persist_batch_entries",
    "Log entries written by one synced write batch.",
    batchBuckets
  ),
  diskWrites: counter(
    "raftkv_raft_disk_writes_total",
    "Durable writes by kind: batch (one synced write batch = one fsync), log_append, hard_state, snapshot_chunk, snapshot.",
    ["kind"]
  ),
  rpcDuration: histogram(
    "raftkv_raft_rpc_duration_seconds",
    "Round trip of a Raft request to a peer until its response is handled; outcome ok/rejected/granted/denied/failed/lost.",
    latencyBuckets,
    ["method", "peer", "outcome"]
  ),
  appendHandlerDuration: histogram(
    "raftkv_raft_append_handler_duration_seconds",
    "Follower: from handling an AppendEntries until its response is sent (includes the fsync it waits for).",
    latencyBuckets
  ),
  replicationLag: gauge(
    "raftkv_raft_replication_lag_entries",
    "Leader: entries of its log a follower is not yet known to hold durably.",
    ["peer"]
  ),
  logEntries: gauge("raftkv_raft_log_entries", "Entries held in the log after the latest snapshot."),
  logBytes: gauge(
    "raftkv_raft_log_bytes",
    "Bytes of log entries applied since the latest snapshot (what the snapshot threshold measures)."
  ),
  snapshotIndex: gauge(
    "raftkv_raft_snapshot_index",
    "Last log index covered by the latest durable snapshot."
  ),
  snapshotBytes: gauge("raftkv_raft_snapshot_bytes", "Size of the latest durable snapshot."),
  snapshotDuration: histogram(
    "raftkv_raft_snapshot_duration_seconds",
    "Snapshot work by kind: create (save a local snapshot), install (receive one from the leader), restore (load it into the state machine).",
    snapshotBuckets,
    ["kind"]
  ),
  eventQueueDepth: gauge(
    "raftkv_raft_event_queue_depth",
    "Inputs waiting for the event loop at the end of a turn."
  ),
  loopBatchEvents: histogram(
    "raftkv_raft_loop_batch_events",
    "Inputs (messages, ticks, proposals, reads) handled by one event loop turn.",
    batchBuckets
  )
} as const

/** Peer transport counters, read from `Transport.stats` at scrape time. */
export const transportMetrics = {
  framesRejected: counter(
    "raftkv_transport_frames_rejected_total",
    "Peer frames refused or dropped, by reason.",
    ["reason"]
  ),
  framesSent: counter("raftkv_transport_frames_sent_total", "Peer frames handed to a connection."),
  framesReceived: counter("raftkv_transport_frames_received_total", "Peer envelopes accepted."),
  outboundQueued: gauge("raftkv_transport_outbound_queued_frames", "Frames waiting in outbound peer queues."),
  connects: counter("raftkv_transport_connects_total", "Outbound peer connections established.")
} as const

/** KV service metrics, reported by the client server. */
export const kvMetrics = {
  requests: counter("raftkv_kv_requests_total", "Client requests answered, by method and outcome.", [
    "method",
    "outcome"
  ]),
  requestDuration: histogram(
    "raftkv_kv_request_duration_seconds",
    "Server-side duration of a client request, by method.",
    latencyBuckets,
    ["method"]
  ),
  pendingProposals: gauge("raftkv_kv_pending_proposals", "Client proposals waiting for their outcome."),
  keys: gauge("raftkv_kv_keys", "Keys in the store."),
  sessions: gauge("raftkv_kv_sessions", "Client sessions tracked by the store."),
  snapshots: counter("raftkv_kv_snapshots_total", "Snapshots of the KV state machine taken on this node.")
} as const

/** Node.js process metrics, under the names prom-client uses. Collected at scrape time. */
export const processMetrics = {
  cpuUser: counter("process_cpu_user_seconds_total", "Total user CPU time spent in seconds."),
  cpuSystem: counter("process_cpu_system_seconds_total", "Total system CPU time spent in seconds."),
  cpu: counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds."),
  startTime: gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds."),
  residentMemory: gauge("process_resident_memory_bytes", "Resident memory size in bytes."),
  openFds: gauge("process_open_fds", "Number of open file descriptors."),
  heapTotal: gauge("nodejs_heap_size_total_bytes", "Process heap size from Node.js in bytes."),
  heapUsed: gauge("nodejs_heap_size_used_bytes", "Process heap size used from Node.js in bytes."),
  external: gauge("nodejs_external_memory_bytes", "Node.js external memory size in bytes."),
  lag: gauge("nodejs_eventloop_lag_seconds", "Mean event loop delay since the previous scrape, in seconds."),
  lagMax: gauge("nodejs_eventloop_lag_max_seconds", "Maximum event loop delay since the previous scrape."),
  lagP50: gauge("nodejs_eventloop_lag_p50_seconds", "Median event loop delay since the previous scrape."),
  lagP99: gauge(
    "nodejs_eventloop_lag_p99_seconds",
    "99th percentile event loop delay since the previous scrape."
  ),
  version: gauge("nodejs_version_info", "Node.js version info.", ["version", "major", "minor", "patch"])
} as const

/** Every metric, for documentation and tests. */
export const all: ReadonlyArray<MetricDef> = [
  ...Object.values(raftMetrics),
  ...Object.values(transportMetrics),
  ...Object.values(kvMetrics),
  ...Object.values(processMetrics)
]
