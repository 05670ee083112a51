// Lighthouse's accessibility category on Convoy's pages, in the installed Chromium: each page is
// opened at each width, waited for until it shows what it is for, then audited in snapshot mode
// (the page as the operator sees it, live) once per colour scheme, the scheme set through the
// DevTools protocol (Emulation.setEmulatedMedia). Lighthouse comes from `.tools/lighthouse`
// (`cargo xtask tools` installs it, pinned).
//
// node lighthouse_a11y.mjs LIGHTHOUSE_DIR CHROMIUM JOB.json
// JOB: {"base": "http://127.0.0.1:PORT", "widths": [1280, 390], "themes": ["light", "dark"],
//       "pages": [{"name", "path", "ready": "<function body returning true when shown>"}],
//       "screenshots": "DIR" (optional: a screenshot of each page, width and theme there)}
// Prints one JSON line per page, width and theme:
// {"page", "width", "theme", "score", "failures": [{"rule", "title", "nodes": ["selector: snippet"]}]}

import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [dir, chromium, jobFile] = process.argv.slice(2);
const job = JSON.parse(readFileSync(jobFile, "utf8"));
const require = createRequire(join(dir, "package.json"));
const puppeteer = require("puppeteer-core");
const lighthouse = await import(pathToFileURL(join(dir, "node_modules/lighthouse/core/index.js")));

const browser = await puppeteer.launch({
  executablePath: chromium,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"],
});
let failed = false;
try {
  for (const width of job.widths) {
    const mobile = width < 600;
    for (const page of job.pages) {
      const tab = await browser.newPage();
      await tab.setViewport({ width, height: mobile ? 844 : 800, isMobile: mobile, hasTouch: mobile });
      await tab.goto(job.base + page.path, { waitUntil: "load" });
      await tab.waitForFunction(`(() => { ${page.ready} })()`, { timeout: 30000, polling: 100 });
      for (const theme of job.themes) {
        // Emulation.setEmulatedMedia on the page's own session, which lasts as long as the page.
        await tab.emulateMediaFeatures([{ name: "prefers-color-scheme", value: theme }]);
        const dark = await tab.evaluate(() => matchMedia("(prefers-color-scheme: dark)").matches);
        if (dark !== (theme === "dark")) throw new Error(`${page.name}: the ${theme} scheme did not apply`);
        const result = await lighthouse.snapshot(tab, {
          config: {
            extends: "lighthouse:default",
            settings: {
              onlyCategories: ["accessibility"],
              formFactor: mobile ? "mobile" : "desktop",
              screenEmulation: { disabled: true },
            },
          },
        });
        const lhr = result.lhr;
        const failures = Object.values(lhr.audits)
          .filter((a) => a.score !== null && a.score < 1 && a.scoreDisplayMode === "binary")
          .map((a) => ({
            rule: a.id,
            title: a.title,
            nodes: (a.details?.items ?? []).slice(0, 8).map((i) =>
              `${i.node?.selector ?? "?"}: ${(i.node?.snippet ?? "").slice(0, 160)} ${(i.node?.explanation ?? "").split("\n").slice(1, 2).join(" ")}`.trim()),
          }));
        const score = Math.round((lhr.categories.accessibility.score ?? 0) * 100);
        console.log(JSON.stringify({ page: page.name, width, theme, score, failures }));
        if (job.screenshots) {
          await tab.screenshot({ path: join(job.screenshots, `a11y-${page.name}-${width}-${theme}.png`) });
        }
      }
      await tab.close();
    }
  }
} catch (e) {
  console.error(String(e && e.stack || e));
  failed = true;
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
