// The one way the API server reads YAML, in the worker or inline: the first document of the text,
// as plain JavaScript values. Duplicate keys are not searched for (the yaml package does that in
// quadratic time, which one large map turns into minutes); the last one wins, as in JSON.parse.
import YAML from 'yaml';

export class YamlError extends Error {
  constructor(
    message: string,
    readonly line?: number,
  ) {
    super(message);
  }
}

export function parseFirstDocument(text: string): unknown {
  const docs = YAML.parseAllDocuments(text, { uniqueKeys: false });
  const doc = Array.isArray(docs) ? docs[0] : docs;
  if (!doc) return undefined;
  if (doc.errors.length) {
    const err = doc.errors[0];
    throw new YamlError(err.message.split('\n')[0], err.linePos?.[0]?.line);
  }
  // toJS throws on an alias bomb ("Excessive alias count") and the parser on absurd nesting.
  return doc.toJS();
}
