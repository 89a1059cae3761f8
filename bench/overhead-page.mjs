// The page both servers of bench/overhead.mjs render: a small product list (about 2 KB of
// HTML, every text escaped, prices formatted). One render takes a few µs; a request renders
// it `reps` times, each time from a different offset in the catalogue, and sends the last
// one, so the handler does a fixed amount of real work (bench/overhead.mjs picks `reps` so
// that it is about 50 µs) and the answer stays small.
//
// Both servers import this module, so they run the same code with the same `reps`. The
// benchmarks that load them (bench/overhead.mjs, bench/overhead-sets.mjs) ask for PAGE_PATH
// with BROWSER_HEADERS.

/** The page asked for: a query, so records carry one. */
export const PAGE_PATH = '/catalog?page=2&sort=price';
/** What a browser sends, so the records carry realistic fields (user agent, referrer, cookies). */
export const BROWSER_HEADERS = [
  'User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
  'Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
  'Accept-Language: en-GB,en;q=0.5',
  'Accept-Encoding: gzip, deflate',
  'Referer: http://127.0.0.1/catalog?page=1',
  'Cookie: session=5f2b8c1e9a7d4c3b; theme=light',
];

const NAMES = [
  'Walnut desk',
  'Oak bookshelf',
  'Linen armchair',
  'Steel lamp',
  'Wool rug <large>',
  'Glass vase & stand',
  'Cotton throw',
  'Ceramic bowl "blue"',
  'Pine stool',
  "Rattan basket 'XL'",
  'Brass hook',
  'Birch side table',
];

const CATALOGUE = Array.from({ length: 64 }, (_, i) => ({
  id: 1000 + i * 7,
  name: NAMES[i % NAMES.length],
  price: 9.5 + ((i * 37) % 400) + (i % 4) * 0.25,
  stock: (i * 13) % 9,
  tags: ['home', i % 2 ? 'sale' : 'new', i % 3 ? 'wood' : 'metal'],
}));

const ITEMS_PER_PAGE = 12;
const money = new Intl.NumberFormat('en-GB', { style: 'currency', currency: 'EUR' });

function escapeHtml(s) {
  let out = '';
  let last = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let rep;
    if (c === 38) rep = '&amp;';
    else if (c === 60) rep = '&lt;';
    else if (c === 62) rep = '&gt;';
    else if (c === 34) rep = '&quot;';
    else if (c === 39) rep = '&#39;';
    else continue;
    out += s.slice(last, i) + rep;
    last = i + 1;
  }
  return last === 0 ? s : out + s.slice(last);
}

/** One render of the page, items from `offset` on. */
export function renderPage(offset) {
  let rows = '';
  let total = 0;
  for (let k = 0; k < ITEMS_PER_PAGE; k++) {
    const item = CATALOGUE[(offset + k) % CATALOGUE.length];
    total += item.price;
    rows +=
      `<li class="item${item.stock === 0 ? ' sold-out' : ''}" data-id="${item.id}">` +
      `<a href="/catalog/item/${item.id}">${escapeHtml(item.name)}</a> ` +
      `<span class="price">${money.format(item.price)}</span> ` +
      `<span class="tags">${item.tags.map(escapeHtml).join(', ')}</span></li>\n`;
  }
  return (
    '<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>Catalogue</title></head>\n' +
    `<body><h1>Catalogue, page ${(offset % 5) + 1}</h1>\n<ul>\n${rows}</ul>\n` +
    `<p>${ITEMS_PER_PAGE} items, ${money.format(total)} in all.</p></body></html>\n`
  );
}

let turn = 0;

/** A request's work: `reps` renders from different offsets; the last one is the answer. */
export function render(reps) {
  let page = '';
  for (let r = 0; r < reps; r++) page = renderPage(turn++ & 63);
  return page;
}

/**
 * How many renders take about `targetUs` µs on this machine: after a warm-up, the fastest of
 * 15 batches of 500 renders, so a burst of other work on the machine does not shrink the count.
 */
export function calibrate(targetUs) {
  for (let i = 0; i < 5000; i++) render(1); // warm-up: let the JIT optimise
  let best = Number.POSITIVE_INFINITY;
  for (let b = 0; b < 15; b++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < 500; i++) render(1);
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e3 / 500);
  }
  return { perRenderUs: best, reps: Math.max(1, Math.round(targetUs / best)) };
}
