/**
 * The pairing of two trajectories, asked of dojo-nb's server extension
 * (dojo_nb/views/lab: GET dojo-nb/api/pairing), which runs the static compare page's own
 * alignment (nbdime over cell sources): Lab and `dojo-nb compare` pair the same cells.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export type Kind = 'same' | 'changed' | 'only-a' | 'only-b' | 'replaced';

export interface ISide {
  path: string;
  task: string;
  agent: string;
  episode: string;
  label: string;
  lower_is_better: boolean;
}

export interface IPairing {
  a: ISide;
  b: ISide;
  same_task: boolean;
  method: string;
  /** Aligned rows: a cell index on each side (null: no partner) and how they relate. */
  rows: Array<[number | null, number | null, Kind]>;
}

/** Raised with the server's message (not a trajectory, no such file, ...). */
export class PairingError extends Error {}

export async function fetchPairing(a: string, b: string): Promise<IPairing> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, 'dojo-nb/api/pairing') + URLExt.objectToQueryString({ a, b });
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, {}, settings);
  } catch (err) {
    throw new PairingError(`dojo-nb's server extension did not answer (${String(err)})`);
  }
  let body: any = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (response.status === 404 && !body?.message) {
    throw new PairingError(
      "dojo-nb's server extension is not enabled in this Jupyter server (jupyter server extension list)"
    );
  }
  if (!response.ok) {
    throw new PairingError(String(body?.message ?? `${response.status} ${response.statusText}`));
  }
  if (typeof body?.refused === 'string') {
    throw new PairingError(body.refused);
  }
  return body as IPairing;
}

/**
 * For each cell of one side, the cell of the other side it is shown with: its partner, or
 * for a cell without one, the partner of the closest paired cell above it (null at the top).
 */
export function partnerMap(pairing: IPairing, side: 'a' | 'b', nCells: number): Array<number | null> {
  const mine = side === 'a' ? 0 : 1;
  const other = 1 - mine;
  const direct = new Map<number, number>();
  for (const row of pairing.rows) {
    const i = row[mine] as number | null;
    const j = row[other] as number | null;
    if (i !== null && j !== null) {
      direct.set(i, j);
    }
  }
  const out: Array<number | null> = [];
  let last: number | null = null;
  for (let i = 0; i < nCells; i++) {
    if (direct.has(i)) {
      last = direct.get(i)!;
    }
    out.push(last);
  }
  return out;
}
