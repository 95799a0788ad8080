/**
 * Generated inferences over the ids and times the Bud-stack request fixtures use (their projects,
 * users, inference id and March 2026 dates), so every fixture meets data.
 */
import type { InferenceData } from "@budmetrics/schema";
import { createRng, uuidFrom } from "../../../../test/support/generate";

export const IDS: {
  projects: [string, string, string];
  users: [string, string, string];
  inference: string;
  prompt: string;
} = {
  projects: [
    "0b0c0d0e-1111-4222-8333-444455556666",
    "5a7e2c10-3f4b-4d8e-9c21-7b6a5d4c3e2f",
    "9c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e5f",
  ],
  users: [
    "7d1e2f3a-4b5c-4d6e-8f7a-8b9c0d1e2f3a",
    "8e2f3a4b-5c6d-4e7f-8a9b-9c0d1e2f3a4b",
    "9f3a4b5c-6d7e-4f8a-9b0c-0d1e2f3a4b5c",
  ],
  inference: "6f1b3e0e-8a8b-4c2e-9d5a-1c1d1e1f2a3b",
  prompt: "customer-support-agent",
};

/** The fixtures' "now": a few minutes after their latest to_date. */
export const NOW = Date.parse("2026-03-14T10:20:00Z");
export const START = Date.parse("2026-02-20T00:00:00Z");

/** Public addresses with known locations in the bundled database, private ones and IPv6. */
export const IPS = [
  "81.2.69.142",
  "8.8.8.8",
  "1.1.1.1",
  "2a02:ec80::1",
  "2001:4860:4860::8888",
  "10.1.2.3",
  "89.160.20.112",
  "175.16.199.7",
];

export function makeEvents(
  seed: number,
  count: number,
  startMs = START,
  endMs = NOW - 60_000,
): InferenceData[] {
  const rng = createRng(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rng() * xs.length)]!;
  const models = Array.from({ length: 3 }, (_, i) => ({ id: uuidFrom(rng), name: `model-${i}` }));
  const endpoints = Array.from({ length: 4 }, (_, i) => ({ id: uuidFrom(rng), name: `endpoint-${i}` }));
  const apiKeys = Array.from({ length: 5 }, () => uuidFrom(rng));
  const extraUsers = Array.from({ length: 4 }, () => uuidFrom(rng));
  const out: InferenceData[] = [];
  for (let i = 0; i < count; i++) {
    const arrival = startMs + Math.floor(rng() * (endMs - startMs));
    const success = rng() < 0.9;
    const project = pick(IDS.projects);
    const model = pick(models);
    const latency = rng() < 0.05 ? null : Math.round((20 + rng() * rng() * 12_000) * 1000) / 1000;
    const d: InferenceData = {
      inference_id: uuidFrom(rng),
      project_id: project,
      endpoint_id: pick(endpoints).id,
      model_id: model.id,
      is_success: success,
      request_arrival_time: new Date(arrival).toISOString(),
      request_forward_time: new Date(arrival + Math.floor(rng() * 40)).toISOString(),
      request_ip: rng() < 0.1 ? null : pick(IPS),
      cost: rng() < 0.1 ? null : Math.round(rng() * 1e6) / 1e9,
      api_key_id: rng() < 0.05 ? null : pick(apiKeys),
      user_id: rng() < 0.05 ? null : rng() < 0.7 ? pick(IDS.users) : pick(extraUsers),
      api_key_project_id: rng() < 0.1 ? null : rng() < 0.8 ? project : pick(IDS.projects),
      model_name: model.name,
      model_provider: "vllm",
      project_name: `project-${IDS.projects.indexOf(project)}`,
      endpoint_type: rng() < 0.8 ? "chat" : "embedding",
      input_tokens: Math.floor(rng() * 3000),
      output_tokens: success ? Math.floor(rng() * 1500) : 0,
      response_time_ms: latency,
      ttft_ms: latency === null || rng() < 0.1 ? null : Math.round(latency * rng() * 1000) / 1000,
      cached: rng() < 0.1,
      finish_reason: success ? "stop" : null,
      prompt_id: rng() < 0.2 ? IDS.prompt : null,
      prompt_preview: rng() < 0.5 ? `question ${i}` : null,
      response_preview: rng() < 0.5 ? `answer ${i}` : null,
    };
    if (!success) {
      d.error_code = "429";
      d.error_message = "Rate limit exceeded";
      d.error_type = "RateLimitExceeded";
      d.status_code = 429;
    }
    out.push(d);
  }
  // The fixtures' inference, and two requests of the last minutes (incremental sync).
  out[0] = { ...out[0]!, inference_id: IDS.inference, project_id: IDS.projects[0], response_time_ms: 850.5 };
  out[1] = {
    ...out[1]!,
    request_arrival_time: new Date(NOW - 120_000).toISOString(),
    request_forward_time: new Date(NOW - 119_990).toISOString(),
    prompt_id: null,
  };
  out[2] = {
    ...out[2]!,
    request_arrival_time: new Date(NOW - 200_000).toISOString(),
    request_forward_time: new Date(NOW - 199_000).toISOString(),
    prompt_id: null,
  };
  return out;
}
