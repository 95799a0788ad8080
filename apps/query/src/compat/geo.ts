/**
 * Location of a request IP from the bundled offline database (geoip-lite: GeoLite2 country, region and
 * city data, IPv4 and IPv6). Loaded on first use, not at start-up: the data takes ~110 MB of memory and
 * ~150 ms to read, which only apps that answer geography questions should pay. Data files: GEODATADIR
 * when set (fresher data, e.g. from geoip-lite's updater with a MaxMind licence key), else `geoip/`
 * beside the bundle (the container image, scripts/build.mjs), else the package's own.
 */
import fs from "node:fs";
import path from "node:path";
import { queryErrors } from "../errors";

export interface Location {
  country_code: string | null;
  region: string | null;
  city: string | null;
  latitude: number | null;
  longitude: number | null;
}

export type GeoLookup = (ip: string) => Location | null;

let loaded: typeof import("geoip-lite") | null = null;

function load(): typeof import("geoip-lite") {
  if (!loaded) {
    const besideBundle = path.join(__dirname, "geoip");
    if (!process.env.GEODATADIR && fs.existsSync(path.join(besideBundle, "geoip-country.dat"))) {
      (globalThis as { geodatadir?: string }).geodatadir = besideBundle;
    }
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- deferred: the data is large
      loaded = require("geoip-lite") as typeof import("geoip-lite");
    } catch (err) {
      throw queryErrors.create("GEO_DATABASE_UNAVAILABLE", "the IP location database could not be loaded", {
        cause: err,
      });
    }
  }
  return loaded;
}

/** Looks up one IP (IPv4, IPv6 or IPv4-mapped IPv6); null for private, reserved or unknown addresses. */
export const geoLookup: GeoLookup = (ip) => {
  const r = load().lookup(ip);
  if (!r || !r.country) return null;
  return {
    country_code: r.country,
    region: r.region || null,
    city: r.city || null,
    latitude: r.ll ? r.ll[0] : null,
    longitude: r.ll ? r.ll[1] : null,
  };
};
