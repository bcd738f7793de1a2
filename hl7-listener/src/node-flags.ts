/**
 * Node.js options of the listener, passed by `npm start` and by the MLLP benchmark.
 *
 * Every accepted message stays in memory until processing finishes it, so during a backlog each
 * scavenge copies the messages accepted since the last one. With the default 16 MiB semi-space
 * (64-bit Node.js 20 with a heap limit of 2 GiB or more), the listener ran about 9 scavenges a
 * second at 500 messages/s (p50 3.3 ms, up to 39 ms each). With 64 MiB they are rarer. In alternating
 * benchmark runs the p99 ACK at 500 messages/s was under 20 ms in 7 of 10 readings with 64 MiB and in
 * 2 of 6 without (2 CPUs shared with HAPI and FerretDB). V8's young generation is three semi-spaces,
 * so it may take up to 144 MiB more memory. See https://nodejs.org/api/cli.html#--max-semi-space-sizesize-in-mib.
 *
 * NOTE: later runs the same day with 64 MiB met that target in only 4 of 20 readings, so how much the
 * option helps the p99 is uncertain (bench/results/mllp-throughput.md).
 */
export const LISTENER_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=64'];
