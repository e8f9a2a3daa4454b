import { UserError } from '../lib/errors.ts';

export type GitService = 'git-receive-pack' | 'git-upload-pack' | 'git-upload-archive';

export type ExecRequest = { kind: 'git'; service: GitService; path: string } | { kind: 'command'; argv: string[] };

const MAX_COMMAND_LENGTH = 4096;

/**
 * Splits an exec string into words the way a POSIX shell would for quoting only: single quotes,
 * double quotes and backslashes. Nothing is ever expanded or executed.
 */
export function splitWords(input: string): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  for (let i = 0; i < input.length; i++) {
    const ch = input[i]!;
    if (ch === "'") {
      const end = input.indexOf("'", i + 1);
      if (end < 0) throw new UserError('unterminated single quote in command');
      cur += input.slice(i + 1, end);
      i = end;
      inWord = true;
    } else if (ch === '"') {
      let j = i + 1;
      for (; j < input.length && input[j] !== '"'; j++) {
        if (input[j] === '\\' && j + 1 < input.length && '"\\$`'.includes(input[j + 1]!)) j++;
        cur += input[j];
      }
      if (j >= input.length) throw new UserError('unterminated double quote in command');
      i = j;
      inWord = true;
    } else if (ch === '\\') {
      if (i + 1 < input.length) cur += input[++i];
      inWord = true;
    } else if (ch === ' ' || ch === '\t' || ch === '\n') {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += ch;
      inWord = true;
    }
  }
  if (inWord) words.push(cur);
  return words;
}

/** Classifies what an `ssh host <command>` asked for. */
export function parseExec(command: string): ExecRequest {
  if (command.length > MAX_COMMAND_LENGTH) throw new UserError(`command too long (at most ${MAX_COMMAND_LENGTH} characters)`);
  if (/[\0]/.test(command)) throw new UserError('command contains a NUL byte');
  const words = splitWords(command);
  let service: string | undefined;
  let rest: string[];
  if (words[0] === 'git' && (words[1] === 'receive-pack' || words[1] === 'upload-pack' || words[1] === 'upload-archive')) {
    service = `git-${words[1]}`;
    rest = words.slice(2);
  } else if (words[0] === 'git-receive-pack' || words[0] === 'git-upload-pack' || words[0] === 'git-upload-archive') {
    service = words[0];
    rest = words.slice(1);
  } else {
    return { kind: 'command', argv: words };
  }
  if (rest.length !== 1 || rest[0] === '') throw new UserError(`usage: ${service} '<repo>'`);
  return { kind: 'git', service: service as GitService, path: rest[0]! };
}
