/**
 * A Go channel with a buffer: `send` waits while the buffer is full, `recv` waits while it is empty,
 * `tryRecv` takes without waiting (Go's `select { case v := <-ch: … default: }`). The sidecar model
 * needs exactly these semantics: daprd's back-pressure lives in its full channels.
 */
export interface Channel<T> {
  send(value: T): Promise<void>;
  recv(): Promise<T | typeof CLOSED>;
  tryRecv(): T | undefined;
  /** Resolves once a value is buffered (without taking it), or the channel is closed. */
  readable(): Promise<void>;
  readonly length: number;
  close(): void;
}

export const CLOSED: unique symbol = Symbol("closed");

export function createChannel<T>(capacity: number): Channel<T> {
  if (!Number.isInteger(capacity) || capacity < 1) throw new Error("channel capacity must be ≥ 1");
  // A ring buffer: an array with shift() is O(n) per take, and buffers here hold thousands.
  const ring: Array<T | undefined> = new Array(capacity);
  let head = 0;
  let size = 0;
  const receivers: Array<(v: T | typeof CLOSED) => void> = [];
  const senders: Array<{ value: T; resolve: () => void }> = [];
  let readers: Array<() => void> = [];
  let closed = false;
  const notifyReadable = () => {
    if (readers.length === 0) return;
    const r = readers;
    readers = [];
    for (const f of r) f();
  };

  function take(): T {
    const v = ring[head] as T;
    ring[head] = undefined;
    head = (head + 1) % capacity;
    size--;
    // A waiting sender moves into the space just freed.
    const s = senders.shift();
    if (s) {
      ring[(head + size) % capacity] = s.value;
      size++;
      s.resolve();
    }
    return v;
  }

  return {
    get length() {
      return size;
    },
    send(value) {
      if (closed) return Promise.reject(new Error("send on closed channel"));
      const r = receivers.shift();
      if (r) {
        r(value);
        return Promise.resolve();
      }
      if (size < capacity) {
        ring[(head + size) % capacity] = value;
        size++;
        notifyReadable();
        return Promise.resolve();
      }
      return new Promise<void>((resolve) => senders.push({ value, resolve }));
    },
    recv() {
      if (size > 0) return Promise.resolve(take());
      if (closed) return Promise.resolve(CLOSED);
      return new Promise((resolve) => receivers.push(resolve));
    },
    tryRecv() {
      return size > 0 ? take() : undefined;
    },
    readable() {
      if (size > 0 || closed) return Promise.resolve();
      return new Promise<void>((resolve) => readers.push(resolve));
    },
    close() {
      closed = true;
      for (const r of receivers.splice(0)) r(CLOSED);
      notifyReadable();
    },
  };
}
