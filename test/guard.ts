// A guard for tests that wait on events of real processes: the wait ends on the event; the
// timer only turns a hang into a failure that says what never came.

/** Only a guard: every wait ends on an event long before this. */
export const HANG_GUARD_MS = 30_000

/** `promise`, or a failure naming `what` after {@link HANG_GUARD_MS}. */
export async function guarded<T> (promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const guard = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no event within ${HANG_GUARD_MS} ms`)), HANG_GUARD_MS)
  })
  try {
    return await Promise.race([promise, guard])
  } finally {
    clearTimeout(timer)
  }
}
