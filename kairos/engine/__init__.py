"""The TWAP engine: the state's typed models, the order executor and the plan lifecycle.

    model      State, TwapPlan, Leg, OrderRecord (+ statuses): the state file, typed, with their behaviour
    codec      JSON ↔ models, once, at the state file's edge (one-line errors with the JSON path)
    migrate    older state-file versions → the current one
    plans      building a plan from a rebalance plan; end-of-plan summaries; pruning finished plans
    executor   durable orders: intent → request → result, reconciliation, lost-order proof, `place_guarded`
    lifecycle  start, supersede, reconcile every earlier order (never runs a tick)
    tick       one --process-twap run: reconcile, advance each leg by its due slots, close finished plans

Commands (`kairos.commands`) take the lock, call the engine and print. The engine imports no command module,
only the shell's shared helpers (`commands.common`: the market view and the lock; `commands.plan_view`: words
for regimes and schedules).
"""
