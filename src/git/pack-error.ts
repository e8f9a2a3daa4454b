/** A pack the pusher sent is unusable; the message is meant for them. */
export class PackError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PackError';
  }
}
