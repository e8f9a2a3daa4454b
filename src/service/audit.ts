/** Who did something, as every front end (git, ssh commands, the dashboard) tells the service. */
export interface Actor {
  user: string;
  /** SHA256 fingerprint of the key that signed in */
  fingerprint: string;
  /** the client's address and port, `203.0.113.5:50312` */
  address: string;
  via: 'git' | 'ssh' | 'tui';
}
