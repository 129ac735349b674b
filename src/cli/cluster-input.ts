// Where an analysis command's cluster comes from: manifest files (--manifests PATH...) or a live
// cluster (--kubeconfig FILE [--context NAME], read once: list, no watch, through the kube
// source's lister and applier). Every analysis command takes its input through here, so the
// flags, their errors and the exit status rules are the same everywhere.
//
// A live cluster's invalid objects (the API server accepted them, Palisade's validation does
// not) are reported on stderr like invalid manifest documents and count the same way (exit 1).

import { formatObjectError } from '../cluster/model.ts';
import { CliError, type FlagSpec } from './args.ts';
import { loadClusterForCli, type CliCluster } from './manifest-input.ts';

/** The input flags, to spread into a command's flag spec. */
export const INPUT_FLAGS: FlagSpec = { manifests: 'list', kubeconfig: 'string', context: 'string' };

/** For usage texts. */
export const INPUT_USAGE = '--manifests PATH... | --kubeconfig FILE [--context NAME]';

export const INPUT_HELP = `Input: --manifests PATH... reads files or folders of YAML/JSON; --kubeconfig FILE reads the
live cluster once (list, no watch) with the kubeconfig's current context or --context NAME.`;

export interface InputOptions {
  /** Do not print notes (ignored kinds, implicit namespaces). */
  readonly quietNotes?: boolean;
  /** The flag names, when a command has two inputs (--PREFIXmanifests, --PREFIXkubeconfig ...). */
  readonly prefix?: string;
  /** The manifests flag's name when it is not PREFIXmanifests (diff's after side: --after). */
  readonly manifestsFlag?: string;
}

export interface ClusterInput extends CliCluster {
  /** "manifests a.yaml b/" or "cluster https://... (context x)", for titles and messages. */
  readonly description: string;
}

/** Reads the input the flags name; exactly one of --manifests and --kubeconfig. */
export async function loadClusterInput(cmd: string, flags: Record<string, unknown>, opts: InputOptions = {}): Promise<ClusterInput> {
  const p = opts.prefix ?? '';
  const m = opts.manifestsFlag ?? `${p}manifests`;
  const manifests = flags[m];
  const kubeconfig = flags[`${p}kubeconfig`] as string | undefined;
  const context = flags[`${p}context`] as string | undefined;
  if (manifests !== undefined && kubeconfig !== undefined) throw new CliError(`--${m} and --${p}kubeconfig are two inputs: give one`);
  if (context !== undefined && kubeconfig === undefined) throw new CliError(`--${p}context needs --${p}kubeconfig`);
  if (kubeconfig === undefined) {
    if (manifests === undefined) throw new CliError(`--${m} PATH... is required (files or folders of YAML/JSON), or --${p}kubeconfig FILE for a live cluster`);
    const c = loadClusterForCli(cmd, manifests, { ...opts, flag: m });
    return { ...c, description: `manifests ${(manifests as string[]).join(' ')}` };
  }
  let snap;
  try {
    // Loaded only for --kubeconfig: the Kubernetes client triples the start-up time of every
    // command run on manifests (1.6 s -> 5 s measured on a loaded VM).
    const { readClusterOnce } = await import('../sources/kube-snapshot.ts');
    snap = await readClusterOnce({ kubeconfig, ...(context !== undefined ? { context } : {}) });
  } catch (e) {
    throw new CliError(`--${p}kubeconfig: ${(e as Error).message}`);
  }
  const errors = [...snap.state.rejected.values()].flat();
  for (const e of errors) process.stderr.write(`palisade ${cmd}: error: ${formatObjectError(e)}\n`);
  if (errors.length > 0) {
    process.stderr.write(`palisade ${cmd}: ${snap.state.rejected.size} object(s) of the cluster are invalid and were left out; exit status will be 1\n`);
  }
  if (!opts.quietNotes && snap.absent.length > 0) {
    process.stderr.write(`palisade ${cmd}: note: not served by the cluster (CRD not installed): ${snap.absent.join(', ')}\n`);
  }
  const ctx = context !== undefined ? ` (context ${context})` : '';
  return { state: snap.state, errorCount: errors.length, description: `cluster ${snap.server}${ctx}` };
}
