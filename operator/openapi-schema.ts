/**
 * A typed builder of OpenAPI v3 schemas, the structural subset CustomResourceDefinitions accept. Each
 * builder (`string`, `integer`, `object`, …) returns the plain OpenAPI object and carries, for the
 * compiler only, the type of the values it accepts: `Infer<S>` is a value as the API server returns
 * it (defaults filled in), `InferInput<S>` one as a user may write it.
 */

/** An OpenAPI v3 schema node: the structural subset that CustomResourceDefinitions accept. */
export interface OpenApiSchema {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  description?: string;
  default?: unknown;
  format?: string;
  enum?: readonly string[];
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minItems?: number;
  maxItems?: number;
  items?: OpenApiSchema;
  properties?: Record<string, OpenApiSchema>;
  additionalProperties?: OpenApiSchema;
  required?: readonly string[];
  'x-kubernetes-int-or-string'?: true;
  'x-kubernetes-preserve-unknown-fields'?: true;
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: readonly string[];
  'x-kubernetes-validations'?: readonly CelRule[];
}

/** A CEL validation rule; `fieldPath` makes the error name that field instead of the object. */
export interface CelRule {
  rule: string;
  message: string;
  fieldPath?: string;
  reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
}

declare const carries: unique symbol;
/**
 * A schema node that carries (for the compiler only) `Out`, the type of a value the API server returns,
 * `In`, the type of a value a user writes, and whether the node has a default.
 */
export type Schema<Out, In = Out, Defaulted extends boolean = boolean> = OpenApiSchema & {
  readonly [carries]?: { out: Out; in: In; defaulted: Defaulted };
};

/** The type of a value as the API server returns it: defaults filled in. */
export type Infer<S> = S extends { readonly [carries]?: { out: infer T } } ? T : never;
/** The type of a value as a user writes it: fields with defaults may be left out. */
export type InferInput<S> = S extends { readonly [carries]?: { in: infer T } } ? T : never;

type Options = Omit<OpenApiSchema, 'type' | 'description' | 'properties' | 'items' | 'required'>;
type NoOptions = Record<never, never>;
type HasDefault<O> = O extends { default: unknown } ? true : false;
type IsDefaulted<S> = S extends { readonly [carries]?: { defaulted: true } } ? true : false;
type Shape = Record<string, Schema<unknown, unknown>>;
type Flat<T> = { [K in keyof T]: T[K] } & {};
/** Returned objects: required and defaulted fields are always there. */
type ObjectOut<P extends Shape, R extends keyof P> = Flat<
  { [K in keyof P as K extends R ? K : IsDefaulted<P[K]> extends true ? K : never]: Infer<P[K]> } & {
    [K in keyof P as K extends R ? never : IsDefaulted<P[K]> extends true ? never : K]?: Infer<P[K]>;
  }
>;
/** Written objects: only required fields must be there. */
type ObjectIn<P extends Shape, R extends keyof P> = Flat<
  { [K in keyof P as K extends R ? K : never]: InferInput<P[K]> } & {
    [K in keyof P as K extends R ? never : K]?: InferInput<P[K]>;
  }
>;

/** T, or the union of the allowed values when the options list them (`enum`). */
type Narrowed<T, O> = O extends { enum: readonly (infer E extends T)[] } ? E : T;

const leaf =
  <T>(type: 'string' | 'integer' | 'number' | 'boolean') =>
  <const O extends Options = NoOptions>(description: string, options?: O) =>
    ({ type, description, ...options }) as Schema<Narrowed<T, O>, Narrowed<T, O>, HasDefault<O>>;

export const string = leaf<string>('string');
export const integer = leaf<number>('integer');
export const number = leaf<number>('number');
export const boolean = leaf<boolean>('boolean');

/**
 * A Kubernetes object this project copies as it is (a toleration, an affinity, an env var): the API
 * server validates it where it lands, in the pod template.
 */
export const opaque = (description: string) =>
  ({ type: 'object', description, 'x-kubernetes-preserve-unknown-fields': true }) as Schema<
    Record<string, unknown>
  >;

/** A Kubernetes quantity or port: `500m`, `1Gi` or a plain number. */
export const intOrString = (description: string) =>
  ({ description, 'x-kubernetes-int-or-string': true }) as Schema<number | string>;

export function object<P extends Shape, R extends keyof P & string = never, O extends Options = NoOptions>(
  description: string,
  properties: P,
  required: readonly R[] = [],
  options?: O,
) {
  const node: OpenApiSchema = { type: 'object', description, properties };
  if (required.length > 0) node.required = required;
  return { ...node, ...options } as Schema<ObjectOut<P, R>, ObjectIn<P, R>, HasDefault<O>>;
}

export function array<S extends Schema<unknown, unknown>, O extends Options = NoOptions>(
  description: string,
  items: S,
  options?: O,
) {
  return { type: 'array', description, items, ...options } as Schema<
    Infer<S>[],
    InferInput<S>[],
    HasDefault<O>
  >;
}

export function map<S extends Schema<unknown, unknown>>(description: string, values: S) {
  return { type: 'object', description, additionalProperties: values } as Schema<
    Record<string, Infer<S>>,
    Record<string, InferInput<S>>,
    false
  >;
}
