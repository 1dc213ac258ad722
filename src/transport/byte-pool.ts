/**
 * Small byte arrays carved out of shared 64 KiB slabs, like Node's `Buffer.allocUnsafe` pool.
 *
 * Every `new Uint8Array(n)` above 64 bytes gets a backing store of its own: a calloc, a
 * registration with V8's array-buffer sweeper, and a free when the sweeper finds it dead. The
 * hot paths allocate several per operation (frames, copies of received values, log records),
 * and on a loaded node that bookkeeping, with the glibc consolidations it sets off, took about
 * 10% of the leader's CPU. A view of a slab costs one small object on the JS heap.
 *
 * The pool never hands the same bytes out twice: a slab is a bump allocator and is dropped when
 * full, and the GC frees it once no view of it is left. So a view is as safe to keep or to pass
 * to an asynchronous socket write as a fresh array. What a kept view costs is its slab: use the
 * pool for bytes that die soon or in allocation order (frames, log entries), not for values kept
 * for an unknown time (a key-value store's values), where one live view would pin 64 KiB.
 */

const SLAB_BYTES = 64 * 1024
/** Larger arrays get their own buffer: they are rare, and would waste the end of a slab. */
const MAX_POOLED_BYTES = 4096

let slab = new ArrayBuffer(SLAB_BYTES)
let used = 0

/** `length` zeroed-or-reused bytes: the caller must write all of them before reading any. */
export const allocPooled = (length: number): Uint8Array<ArrayBuffer> => {
  if (length > MAX_POOLED_BYTES) return new Uint8Array(length)
  if (used + length > SLAB_BYTES) {
    slab = new ArrayBuffer(SLAB_BYTES)
    used = 0
  }
  const out = new Uint8Array(slab, used, length)
  // 8-byte aligned starts, so a DataView or wider typed view of a result stays aligned.
  used = (used + length + 7) & ~7
  return out
}

/** A copy of `bytes` from the pool (see the module comment for when not to keep it). */
export const copyPooled = (bytes: Uint8Array): Uint8Array<ArrayBuffer> => {
  const out = allocPooled(bytes.length)
  out.set(bytes)
  return out
}
