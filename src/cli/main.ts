#!/usr/bin/env node
/**
 * The `raftkv` executable: run a node, a local cluster, or talk to a cluster as a client.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { Cause, Effect, Scheduler } from "effect"
import { Command } from "effect/cli"
import { DrainingScheduler } from "../runtime/scheduler.ts"
import { benchCommand } from "./bench-command.ts"
import { clientCommands } from "./client-commands.ts"
import { clusterCommand } from "./cluster-command.ts"
import { describeFailure } from "./failure.ts"
import { nodeCommand } from "./node-command.ts"

const app = Command.make("raftkv").pipe(
  Command.withDescription("A Raft consensus core and a strongly consistent replicated key-value store"),
  Command.withSubcommands([nodeCommand, clusterCommand, ...clientCommands, benchCommand])
)

const program = Command.run(app, { version: "0.1.0" }).pipe(
  // One clear line on stderr and a non-zero exit for every failure we know how to name.
  Effect.catchCause((cause) =>
    Effect.sync(() => {
      if (Cause.hasInterruptsOnly(cause)) return
      const line = describeFailure(cause)
      if (line !== undefined) process.stderr.write(`raftkv: ${line}\n`)
      process.exitCode = process.exitCode && process.exitCode !== 0 ? process.exitCode : 1
    })
  ),
  Effect.provide(NodeServices.layer),
  // Wake-up chains (socket -> inbox -> event loop -> peer link) run in one event-loop turn.
  Effect.provideService(Scheduler.Scheduler, new DrainingScheduler())
)

NodeRuntime.runMain(program, { disableErrorReporting: true })
