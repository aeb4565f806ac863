// The parts of the admin API's run routes (payout runs, refund runs) that are
// the same for every kind of run with four eyes: the run's number in the path,
// the limits a new run is made with, the event log's rows, and turning the run
// kind's own errors into HTTP answers. Each kind keeps its run's fields.
import Type from 'typebox'

export const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()])

export const RunParams = Type.Object({ id: Type.String({ pattern: '^[1-9][0-9]{0,14}$' }) }, { additionalProperties: false })

/** The limits of create (a kind may add its own fields to them). */
export const CreateLimitFields = {
  maxCount: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
  /** Cents. */
  maxSum: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000_000_000 })),
}

/** The run's event log: who, when, what. */
export const RunEventsBody = Type.Array(
  Type.Object({ action: Type.String(), operator: Type.String(), at: Type.Integer(), detail: Nullable(Type.String()) }, { additionalProperties: false }),
)

/** Runs a step of the run service; its errors become HTTP answers through `asHttp` (which throws on what is not the kind's own). */
export const runAsHttp =
  (asHttp: (err: unknown) => never) =>
  <T>(fn: () => T): T => {
    try {
      return fn()
    } catch (err) {
      return asHttp(err)
    }
  }

/** A run summary's first fields (who made and approved it, when), before the kind's last step's `…By`/`…At`. */
export const runSummaryHead = <S extends Parameters<typeof Type.Union>[0][number]>(state: S) => ({
  id: Type.Integer(),
  state,
  createdBy: Type.String(),
  createdAt: Type.Integer(),
  approvedBy: Nullable(Type.String()),
  approvedAt: Nullable(Type.Integer()),
})

/** A run summary's fields after the last step's: who cancelled it, when, and the limits it was made with. */
export const RunSummaryTail = {
  cancelledBy: Nullable(Type.String()),
  cancelledAt: Nullable(Type.Integer()),
  maxCount: Nullable(Type.Integer()),
  maxSum: Nullable(Type.Integer()),
}
