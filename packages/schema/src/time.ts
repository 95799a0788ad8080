/** 'YYYY-MM-DD HH:MM:SS.mmm' (UTC) from epoch milliseconds: the DateTime64(3) text form. */
export function toChDateTime64(ms: number): string {
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)}`;
}

/** Parses what ClickHouse returns for a DateTime64 ('…T…Z' with date_time_output_format=iso, or 'YYYY-MM-DD HH:MM:SS.mmm' UTC). */
export function fromChDateTime(text: string): number {
  return Date.parse(text.includes("T") ? text : `${text.replace(" ", "T")}Z`);
}

/** 64-bit integers arrive as JSON numbers from chdb and as strings from a server. */
export function toNumber(v: unknown): number {
  if (typeof v === "number") return v;
  if (typeof v === "string") return Number(v);
  if (typeof v === "bigint") return Number(v);
  if (v === null || v === undefined) return 0;
  return Number(v);
}
