// Validation of Deployments and ReplicaSets: the selector, the Pod template it must select, replica
// counts, the rollout strategy, and the immutability of the selector on update.

import { fromLabelSelector, matchesLabels, type LabelRequirement } from '../selectors.js';
import type { LabelSelector } from '../types.js';
import { cause, checkEnum, checkInt, checkObject, isObj, sameValue, type Causes, type Obj } from './causes.js';
import { validateLabels } from './meta.js';
import { checkLabelSelector } from './selector.js';
import { validatePodSpec } from './pod.js';

const STRATEGY_TYPES = ['Recreate', 'RollingUpdate'];
const RESTART_POLICIES = ['Always', 'OnFailure', 'Never'];

export function validateWorkload(kind: 'Deployment' | 'ReplicaSet', obj: Obj, old?: Obj): Causes {
  const causes: Causes = [];
  const spec = obj.spec;
  if (!checkObject(causes, 'spec', spec, { required: true })) return causes;

  const replicas = checkInt(causes, 'spec.replicas', spec.replicas, { min: 0 });
  // An int32 in Kubernetes; without the bound 1e300 would be stored as a replica count.
  if (replicas !== undefined && replicas > 2147483647) causes.push(cause.invalid('spec.replicas', replicas, 'must be less than or equal to 2147483647'));
  const minReady = checkInt(causes, 'spec.minReadySeconds', spec.minReadySeconds, { min: 0 });
  const selector = validateSelector(causes, 'spec.selector', spec.selector, kind.toLowerCase());
  validateTemplate(causes, spec.template, selector);

  if (kind === 'Deployment') {
    checkInt(causes, 'spec.revisionHistoryLimit', spec.revisionHistoryLimit, { min: 0 });
    const deadline = checkInt(causes, 'spec.progressDeadlineSeconds', spec.progressDeadlineSeconds, { min: 1 });
    if (deadline !== undefined && minReady !== undefined && deadline <= minReady) {
      causes.push(cause.invalid('spec.progressDeadlineSeconds', deadline, 'must be greater than minReadySeconds'));
    }
    if (spec.paused !== undefined && typeof spec.paused !== 'boolean') causes.push(cause.typeInvalid('spec.paused', spec.paused, 'boolean'));
    validateStrategy(causes, spec.strategy);
  }

  // The selector ties a workload to its Pods and ReplicaSets; changing it would orphan them.
  if (old && isObj(old.spec) && !sameValue(old.spec.selector, spec.selector)) {
    causes.push(cause.invalid('spec.selector', spec.selector, 'field is immutable'));
  }
  return causes;
}

/** Checks a workload's LabelSelector; returns its requirements when valid and non-empty. */
function validateSelector(causes: Causes, p: string, selector: unknown, kind: string): LabelRequirement[] | undefined {
  if (!checkObject(causes, p, selector, { required: true })) return undefined;
  const before = causes.length;
  checkLabelSelector(causes, p, selector);
  const matchLabels = isObj(selector.matchLabels) ? Object.keys(selector.matchLabels) : [];
  const expressions = Array.isArray(selector.matchExpressions) ? selector.matchExpressions : [];
  if (matchLabels.length === 0 && expressions.length === 0) {
    causes.push(cause.invalid(p, selector, `empty selector is invalid for ${kind}; set matchLabels to the template's labels, e.g. {"app": "web"}`));
  }
  if (causes.length > before) return undefined;
  return fromLabelSelector(selector as LabelSelector);
}

function validateTemplate(causes: Causes, template: unknown, selector: LabelRequirement[] | undefined): void {
  if (!checkObject(causes, 'spec.template', template, { required: true })) return;
  let labels: unknown;
  if (checkObject(causes, 'spec.template.metadata', template.metadata)) {
    labels = template.metadata.labels;
    validateLabels(causes, 'spec.template.metadata.labels', labels);
  }
  if (selector && !matchesLabels(selector, isObj(labels) ? (labels as Record<string, string>) : undefined)) {
    causes.push(cause.invalid('spec.template.metadata.labels', labels ?? {}, '`selector` does not match template `labels`'));
  }
  causes.push(...validatePodSpec(template.spec, 'spec.template.spec'));
  // Controllers replace Pods that exit; a template that lets them stay stopped would fight that.
  const restart = isObj(template.spec) ? template.spec.restartPolicy : undefined;
  if (typeof restart === 'string' && restart !== 'Always' && RESTART_POLICIES.includes(restart)) {
    causes.push(cause.notSupported('spec.template.spec.restartPolicy', restart, ['Always']));
  }
}

const PERCENT = /^[0-9]+%$/;

/** maxSurge / maxUnavailable: a non-negative integer or a percentage; returns the value when it is 0. */
function checkIntOrPercent(causes: Causes, p: string, value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') {
    if (!PERCENT.test(value)) {
      causes.push(
        cause.invalid(p, value, "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"),
      );
      return undefined;
    }
    return parseInt(value, 10);
  }
  if (typeof value !== 'number') {
    causes.push(cause.typeInvalid(p, value, 'integer or string'));
    return undefined;
  }
  return checkInt(causes, p, value, { min: 0 });
}

function validateStrategy(causes: Causes, strategy: unknown): void {
  if (!checkObject(causes, 'spec.strategy', strategy)) return;
  checkEnum(causes, 'spec.strategy.type', strategy.type, STRATEGY_TYPES);
  const rolling = strategy.rollingUpdate;
  if (strategy.type === 'Recreate') {
    if (rolling !== undefined && rolling !== null) {
      causes.push(cause.forbidden('spec.strategy.rollingUpdate', "may not be specified when strategy `type` is 'Recreate'"));
    }
    return;
  }
  if (!checkObject(causes, 'spec.strategy.rollingUpdate', rolling)) return;
  const p = 'spec.strategy.rollingUpdate';
  const surge = checkIntOrPercent(causes, `${p}.maxSurge`, rolling.maxSurge);
  const unavailable = checkIntOrPercent(causes, `${p}.maxUnavailable`, rolling.maxUnavailable);
  if (typeof rolling.maxUnavailable === 'string' && unavailable !== undefined && unavailable > 100) {
    causes.push(cause.invalid(`${p}.maxUnavailable`, rolling.maxUnavailable, 'must not be greater than 100%'));
  }
  if (surge === 0 && unavailable === 0) {
    causes.push(cause.invalid(`${p}.maxUnavailable`, rolling.maxUnavailable, 'may not be 0 when `maxSurge` is 0'));
  }
}
