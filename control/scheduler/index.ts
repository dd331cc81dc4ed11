// The scheduler: a pure core that filters and scores nodes, and the loop that binds pods with it.
export { schedulerController, needsScheduling, Scheduler, SCHEDULER_NAME, type SchedulerOptions } from './loop.js';
export { schedule, podDemand, nodeInfoOf, type SchedulerStrategy } from './scheduler.js';
