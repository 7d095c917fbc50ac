/** site.json, the one file that tells the pages what this site is (a web export, or `digits serve`). */
import type { SiteConfig } from './protocol.js';

export async function readSite(): Promise<SiteConfig> {
  const url = new URL('site.json', document.baseURI).href;
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}; this page needs the site.json that digits export --format web writes`);
  return (await res.json()) as SiteConfig;
}
