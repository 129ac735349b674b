// What a misspelt pod or namespace could have meant: the pods of the namespace named, or the
// namespaces that have pods. One text for every command that looks a pod up by name (explain,
// verify, connlist --focus, lab probe).

// A few names and how many more: a namespace can hold thousands of pods.
const SHOWN = 10;

function someOf(names: string[]): string {
  return names.length <= SHOWN ? names.join(', ') : `${names.slice(0, SHOWN).join(', ')} and ${names.length - SHOWN} more`;
}

/** "pods of namespace ns: a, b", or "no pod in namespace ns; namespaces with pods: x, y". */
export function podsThere(pods: Iterable<{ readonly namespace: string; readonly name: string }>, ns: string): string {
  const names: string[] = [];
  const namespaces = new Set<string>();
  for (const p of pods) {
    namespaces.add(p.namespace);
    if (p.namespace === ns) names.push(p.name);
  }
  if (names.length > 0) return `pods of namespace ${ns}: ${someOf(names.sort())}`;
  return `no pod in namespace ${ns}; namespaces with pods: ${namespaces.size > 0 ? someOf([...namespaces].sort()) : 'none'}`;
}
