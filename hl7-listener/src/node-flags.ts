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
 *
 * `--v8-pool-size=1` leaves V8 one worker thread instead of four. The backlog makes the old generation
 * grow by about 10 MB/s during a burst, so a full collection starts every few seconds. A `perf record`
 * of both CPUs showed its concurrent marking, on four workers and the main thread, taking both CPUs for
 * about 100 ms. FerretDB and the sending client got almost no CPU then, and about 40 ACKs took over 20 ms.
 * With one worker, marking takes one CPU at most. In alternating runs of a trial build that paused
 * processing during bursts, enhanced mode's p99 ACK at 500 messages/s was under 20 ms in 4 of 5
 * readings with the option and in 4 of 10 without. With the shipped code it was 11 of 14 readings
 * against 9 of 14, so the option makes misses rarer but does not end them.
 * See https://nodejs.org/api/cli.html#--v8-pool-sizenum.
 */
export const LISTENER_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=64', '--v8-pool-size=1'];
