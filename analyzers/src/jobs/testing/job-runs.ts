/** Collection where the recording worker of the job tests counts runs per job id. */
export const JOB_RUNS_COLLECTION = 'job_runs';

/** Runs of one job, counted by the recording worker. */
export interface JobRunDocument {
  _id: string;
  started: number;
  completed: number;
  /** Starts per worker name. */
  startedBy: Record<string, number>;
  completedBy: string;
}
