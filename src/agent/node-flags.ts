// The Node.js flags the agent runs with, wherever it is started: the image's ENTRYPOINT
// (Dockerfile), the lab's agents (src/lab/lab-agent.ts), the tests' and benches' agents
// (support/netns.ts), and `npm run bench` (package.json), so the benches measure the engine as
// the agent runs it. They are the runtime's own options, given before the script, so they cannot
// be set from inside the process; test/deploy checks the Dockerfile and package.json against
// this list.
//
// --v8-pool-size=1: one V8 helper thread instead of Node's default four. The helpers run V8's
// concurrent marking and sweeping and its optimizing compiles beside the event loop. The
// DaemonSet limits the agent to one CPU (its quota counts every thread of the process), and the
// nodes of a kind cluster or a small VM have two cores, so four helpers take the CPU the
// event loop needs to apply an update: a trace of the cluster-large bench's updates
// (PALISADE_BENCH_TRACE=1, bench/update-trace.ts) shows the slow ones waiting in the run queue
// while the helpers run. With one helper the bench's pod relabel p99 was under 10 ms in nine
// runs of nine, against four of nine with four helpers, the same minutes (docs/speed-history.md,
// "One V8 helper thread for the agent"); the full compile and the scale bench did not get
// slower, and the packet path does not use the helpers at all.
export const AGENT_NODE_FLAGS: readonly string[] = ['--v8-pool-size=1'];

/**
 * The AGENT_NODE_FLAGS a Node process was started without: `execArgv` (the flags before the
 * script) and NODE_OPTIONS both count, in either spelling Node takes (`--flag=value`,
 * `--flag value`). `palisade agent` started by hand warns with them (src/cli/commands/agent.ts).
 */
export function missingAgentNodeFlags(execArgv: readonly string[], nodeOptions: string = ''): string[] {
  const given = [...execArgv, ...nodeOptions.split(/\s+/).filter(Boolean)];
  const joined: string[] = [];
  for (let i = 0; i < given.length; i++) {
    const w = given[i]!;
    // `--flag value`: the value is the next word when this one has none of its own.
    joined.push(!w.includes('=') && w.startsWith('--') && i + 1 < given.length && !given[i + 1]!.startsWith('-') ? `${w}=${given[++i]}` : w);
  }
  return AGENT_NODE_FLAGS.filter((f) => !joined.includes(f));
}
