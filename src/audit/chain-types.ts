/**
 * The newest record as last seen by a writer, kept apart from the chain (e.g. in another file or
 * store): a chain alone cannot show that its newest records were deleted.
 */
export interface ChainHead {
  seq: number;
  mac: string;
}

export type ChainProblemKind = 'edited' | 'deleted' | 'reordered' | 'forged' | 'truncated';

export interface ChainProblem {
  /** Where the chain first goes wrong: the bad record, or the first missing seq. */
  seq: number;
  kind: ChainProblemKind;
  message: string;
}
