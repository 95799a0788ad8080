/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: "node",
  transform: { "^.+\\.ts$": ["@swc/jest", { jsc: { target: "es2022" } }] },
  testMatch: ["<rootDir>/{apps,packages}/*/test/**/*.test.ts", "<rootDir>/test/**/*.test.ts"],
  moduleFileExtensions: ["ts", "js", "json"],
  testTimeout: 60000,
  // Embedded ClickHouse allows one engine per process; jest workers are processes, so
  // each test file gets its own engine and data folder.
  maxWorkers: 2,
};
