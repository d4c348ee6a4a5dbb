// The resource page's progressive parts; without them every file is downloaded.
// - A PDF's pages drawn in the page by pdf.js (static/vendor/pdfjs, built by `make
//   assets`). It is loaded only when the visitor asks: about 1.5 MB, too much to
//   fetch unasked on a school's slow link. pdf.js asks for the parts of the file it
//   draws with Range requests.
// - The "use in my course" link copied with one click.

const viewer = document.querySelector("[data-pdf]");
if (viewer) {
  const start = viewer.querySelector("[data-pdf-start]");
  start.hidden = false;
  start.addEventListener(
    "click",
    () => {
      start.disabled = true;
      showPdf(viewer).catch(() => {
        viewer.querySelector("[data-pdf-status]").textContent = viewer.dataset.failed;
        start.hidden = true;
      });
    },
    { once: true },
  );
}

const copy = document.querySelector("[data-copy]");
if (copy) {
  copyButton(copy);
}

async function showPdf(viewer) {
  const status = viewer.querySelector("[data-pdf-status]");
  const canvas = viewer.querySelector("canvas");
  const controls = viewer.querySelector(".pdf-controls");
  const position = viewer.querySelector("[data-pdf-position]");
  const previous = viewer.querySelector("[data-pdf-prev]");
  const next = viewer.querySelector("[data-pdf-next]");
  const base = viewer.dataset.base;
  status.textContent = viewer.dataset.loading;

  const pdfjs = await import(viewer.dataset.lib);
  pdfjs.GlobalWorkerOptions.workerSrc = viewer.dataset.worker;
  const pdf = await pdfjs.getDocument({
    url: viewer.dataset.pdf,
    // Chinese PDFs name CID fonts whose character maps pdf.js fetches from here.
    cMapUrl: `${base}cmaps/`,
    cMapPacked: true,
    standardFontDataUrl: `${base}standard_fonts/`,
    wasmUrl: `${base}wasm/`,
    iccUrl: `${base}iccs/`,
    // The Content-Security-Policy allows no eval; say so rather than be refused.
    isEvalSupported: false,
    // Fetch the pages shown, not the whole file in the background.
    disableAutoFetch: true,
    disableStream: true,
  }).promise;

  // One drawing at a time on the canvas; a page asked for meanwhile comes next.
  let current = 1;
  let drawing = false;
  let wanted = null;

  async function draw(number) {
    if (drawing) {
      wanted = number;
      return;
    }
    drawing = true;
    current = number;
    previous.disabled = number <= 1;
    next.disabled = number >= pdf.numPages;
    const label = viewer.dataset.position
      .replace("{page}", String(number))
      .replace("{pages}", String(pdf.numPages));
    position.textContent = label;
    try {
      const page = await pdf.getPage(number);
      const natural = page.getViewport({ scale: 1 });
      const fit = Math.min((viewer.clientWidth || natural.width) / natural.width, 2);
      const ratio = window.devicePixelRatio || 1;
      const viewport = page.getViewport({ scale: fit * ratio });
      canvas.width = Math.floor(viewport.width);
      canvas.height = Math.floor(viewport.height);
      canvas.style.width = `${Math.floor(viewport.width / ratio)}px`;
      await page.render({ canvas, viewport }).promise;
      canvas.setAttribute("aria-label", label);
      canvas.dataset.page = String(number);
    } finally {
      drawing = false;
    }
    if (wanted !== null) {
      const then = wanted;
      wanted = null;
      await draw(then);
    }
  }

  previous.addEventListener("click", () => draw(Math.max(1, current - 1)));
  next.addEventListener("click", () => draw(Math.min(pdf.numPages, current + 1)));
  controls.hidden = false;
  canvas.hidden = false;
  await draw(1);
  status.textContent = "";
  viewer.querySelector("[data-pdf-start]").hidden = true;
  // The button pressed is gone: keyboard users go on from the page controls.
  (next.disabled ? previous : next).focus();
}

function copyButton(button) {
  const field = document.getElementById(button.dataset.copy);
  const status = document.querySelector("[data-copy-status]");
  button.hidden = false;
  button.addEventListener("click", async () => {
    field.select();
    let copied = false;
    try {
      // The clipboard API needs a secure context (https, or this machine).
      if (navigator.clipboard && window.isSecureContext) {
        await navigator.clipboard.writeText(field.value);
        copied = true;
      }
    } catch {
      copied = false;
    }
    if (!copied) {
      try {
        copied = document.execCommand("copy");
      } catch {
        copied = false;
      }
    }
    status.textContent = copied ? button.dataset.copied : button.dataset.copyFailed;
  });
}
