import pino, { type Logger, type LoggerOptions } from "pino";

export type { Logger };

export interface LoggerConfig {
  level: string;
  name: string;
  /** Extra fields on every line (e.g. app id). */
  base?: Record<string, unknown>;
}

/** JSON to stdout; errors under `err`; payloads never logged (redaction is a safety net for headers). */
export function createLogger(config: LoggerConfig, destination?: pino.DestinationStream): Logger {
  const options: LoggerOptions = {
    name: config.name,
    level: config.level,
    base: { pid: process.pid, ...(config.base ?? {}) },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: ["req.headers.authorization", 'req.headers["dapr-api-token"]', "headers.authorization"],
      censor: "[redacted]",
    },
    serializers: { err: pino.stdSerializers.err },
  };
  return destination ? pino(options, destination) : pino(options);
}

/** A logger that drops everything: for tests and benchmarks that measure, not read. */
export function createSilentLogger(): Logger {
  return pino({ level: "silent" });
}
