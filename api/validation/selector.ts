// Validation of a LabelSelector object (matchLabels, matchExpressions), wherever one appears.
import { cause, checkArray, checkEnum, checkObject, checkString, checkSyntax, type Causes, type Obj } from './causes.js';
import { validateLabels } from './meta.js';
import { isQualifiedName, isValidLabelValue } from './names.js';

const SELECTOR_OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist'];

/** Adds a cause for every malformed part of the selector at `p` (an empty selector is well formed). */
export function checkLabelSelector(causes: Causes, p: string, selector: Obj): void {
  validateLabels(causes, `${p}.matchLabels`, selector.matchLabels);
  const expressions = checkArray(causes, `${p}.matchExpressions`, selector.matchExpressions);
  expressions.forEach((e, i) => {
    const ep = `${p}.matchExpressions[${i}]`;
    if (!checkObject(causes, ep, e, { required: true })) return;
    if (checkString(causes, `${ep}.key`, e.key, { required: true })) checkSyntax(causes, `${ep}.key`, e.key, isQualifiedName);
    if (e.operator === undefined || e.operator === null) causes.push(cause.required(`${ep}.operator`));
    else checkEnum(causes, `${ep}.operator`, e.operator, SELECTOR_OPERATORS);
    const values = checkArray(causes, `${ep}.values`, e.values);
    values.forEach((v, j) => {
      if (checkString(causes, `${ep}.values[${j}]`, v)) checkSyntax(causes, `${ep}.values[${j}]`, v, isValidLabelValue);
    });
    if ((e.operator === 'In' || e.operator === 'NotIn') && values.length === 0) {
      causes.push(cause.required(`${ep}.values`, "must be specified when `operator` is 'In' or 'NotIn'"));
    }
    if ((e.operator === 'Exists' || e.operator === 'DoesNotExist') && values.length > 0) {
      causes.push(cause.forbidden(`${ep}.values`, "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"));
    }
  });
}
