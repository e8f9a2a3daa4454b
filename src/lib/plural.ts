/** `1 repo`, `3 repos`, `1 process`, `2 processes`. */
export function count(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
