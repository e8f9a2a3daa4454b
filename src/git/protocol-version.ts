/**
 * The protocol version a client asked for through GIT_PROTOCOL (sent as an ssh env request),
 * a colon-separated list such as `version=2:object-format=sha1`; absent or unknown means 0.
 */
export function requestedVersion(protocol: string | undefined): 0 | 1 | 2 {
  const versions = (protocol ?? '')
    .split(':')
    .map((kv) => /^version=([0-9]+)$/.exec(kv)?.[1])
    .filter((v): v is string => v !== undefined)
    .map(Number);
  const v = versions.length ? Math.max(...versions) : 0;
  return v >= 2 ? 2 : v === 1 ? 1 : 0;
}
