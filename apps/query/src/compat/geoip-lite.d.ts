/** The part of geoip-lite's API the query app uses (the package ships no types). */
declare module "geoip-lite" {
  export interface Lookup {
    country: string;
    region: string;
    city: string;
    ll: [number, number] | null;
    timezone: string;
  }
  export function lookup(ip: string): Lookup | null;
}
