/**
 * What an execution that stopped (suspended, lost, handed over) gives the handler's pending
 * `await`: a promise that never settles, so no code after that `await` runs in this execution.
 * A fresh one per call, referenced by nothing but the frames awaiting it, so once the executor
 * drops the execution, the handler's suspended frames and closures are garbage collected with it.
 * (One shared module-level promise would keep every suspended handler reachable forever.)
 */
export function never(): Promise<never> {
  return new Promise<never>(() => {});
}
