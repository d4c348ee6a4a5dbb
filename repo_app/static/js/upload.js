// The upload pages' progressive JavaScript (each page works without it):
// - the metadata form shows only the chapter trees of the textbook chosen above;
// - the files page sends each dropped or chosen file with tus-js-client over the
//   resumable protocol (/api/v1/uploads), one progress bar per file. tus-js-client
//   remembers each upload's address in localStorage (keyed by batch, name, size and
//   date), so the same file added again after a broken connection or a page reload
//   goes on from the offset the server has.
(function () {
  "use strict";

  // -- metadata form: chapter trees of the chosen textbook -------------------------
  var batchForm = document.getElementById("batch-form");
  if (batchForm) {
    var books = batchForm.querySelectorAll("details.textbook");
    var none = batchForm.querySelector("[data-no-chapters]");
    var value = function (name) {
      var el = batchForm.elements[name];
      return el ? el.value : "";
    };
    var filter = function () {
      var shown = 0;
      books.forEach(function (book) {
        var d = book.dataset;
        var fits =
          (!value("stage") || d.stage === value("stage")) &&
          (!value("subject") || d.subject === value("subject")) &&
          (!value("edition") || d.edition === value("edition")) &&
          (!value("grade") || d.grades.split(" ").indexOf(value("grade")) >= 0) &&
          (!value("volume") || d.volume === value("volume"));
        var checked = book.querySelector("input:checked");
        book.hidden = !fits && !checked;
        if (!book.hidden) shown += 1;
      });
      if (none) none.hidden = shown > 0;
    };
    ["stage", "subject", "edition", "grade", "volume"].forEach(function (name) {
      var el = batchForm.elements[name];
      if (el) el.addEventListener("change", filter);
    });
    filter();
  }

  // -- files page: resumable uploads -----------------------------------------------
  var root = document.getElementById("uploader");
  if (!root || !window.tus || !window.tus.isSupported) return;
  var data = root.dataset;
  var zone = root.querySelector(".drop-zone");
  var input = root.querySelector("input[type=file]");
  var list = root.querySelector(".upload-list");

  function say(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, key) {
      return values[key] === undefined ? "" : values[key];
    });
  }

  function megabytes(bytes) {
    return (bytes / 1048576).toFixed(1) + " MB";
  }

  function percent(done, total) {
    return (total ? Math.floor((100 * done) / total) : 100) + "%";
  }

  function row(file) {
    var item = document.createElement("li");
    item.className = "upload";
    item.dataset.name = file.name;
    var name = document.createElement("span");
    name.className = "file-name";
    name.textContent = file.name + " (" + megabytes(file.size) + ")";
    var bar = document.createElement("progress");
    bar.max = file.size || 1;
    bar.value = 0;
    bar.setAttribute("aria-label", file.name);
    var state = document.createElement("span");
    state.className = "state";
    state.textContent = data.msgWaiting;
    var note = document.createElement("span");
    note.className = "note";
    item.append(name, bar, state, note);
    list.append(item);
    return { item: item, bar: bar, state: state, note: note };
  }

  function errorOf(error) {
    // Our API answers {"error": {"code", "message"}}; the page words known codes.
    var response = error && error.originalResponse;
    if (!response) return { code: "offline", message: "" };
    try {
      var body = JSON.parse(response.getBody() || "{}").error || {};
      return { code: body.code || "", message: body.message || "" };
    } catch (e) {
      return { code: "", message: String(response.getStatus()) };
    }
  }

  function showResult(ui, uploadUrl) {
    ui.state.textContent = data.msgChecking;
    window.kejian
      .fetch(uploadUrl)
      .then(function (response) {
        return response.json();
      })
      .then(function (status) {
        ui.bar.value = ui.bar.max;
        if (status.state === "stored") {
          ui.item.classList.add("ok");
          ui.state.textContent = data.msgStored + " ";
          var link = document.createElement("a");
          link.href = data.resourceUrl.replace(/0$/, String(status.resource_id));
          link.textContent = data.msgOpen;
          ui.state.append(link);
        } else if (status.state === "refused") {
          ui.item.classList.add("error");
          ui.state.textContent = say(data.msgRefused, { reason: status.error });
        }
      });
  }

  function send(file) {
    var ui = row(file);
    if (file.size > Number(data.max)) {
      ui.item.classList.add("error");
      ui.state.textContent = data.msgTooLarge;
      return;
    }
    var upload = new window.tus.Upload(file, {
      endpoint: data.endpoint,
      chunkSize: Number(data.chunk),
      retryDelays: [0, 1000, 3000, 5000],
      metadata: {
        filename: file.name,
        filetype: file.type,
        batch: data.batch,
      },
      headers: { "X-CSRFToken": window.kejian.csrfToken() },
      removeFingerprintOnSuccess: true,
      fingerprint: function (f) {
        return Promise.resolve(
          ["kejian", data.batch, f.name, f.type, f.size, f.lastModified].join("|")
        );
      },
      onAfterResponse: function (request, response) {
        // A HEAD answers where a resumed upload goes on from.
        if (request.getMethod() === "HEAD" && response.getStatus() === 200) {
          var offset = Number(response.getHeader("Upload-Offset") || 0);
          if (offset > 0) {
            ui.note.textContent = say(data.msgResumed, {
              percent: percent(offset, file.size),
              done: megabytes(offset),
            });
            ui.item.dataset.resumedAt = String(offset);
          }
        }
      },
      onProgress: function (sent, total) {
        ui.bar.value = sent;
        ui.state.textContent = say(data.msgSending, { percent: percent(sent, total) });
      },
      onSuccess: function () {
        showResult(ui, upload.url);
      },
      onError: function (error) {
        var problem = errorOf(error);
        ui.item.classList.add("error");
        if (problem.code === "file_too_large") {
          ui.state.textContent = data.msgTooLarge;
        } else if (problem.code === "offline") {
          ui.state.textContent = data.msgOffline;
        } else {
          ui.state.textContent = say(data.msgFailed, { reason: problem.message });
        }
      },
    });
    upload.findPreviousUploads().then(function (previous) {
      if (previous.length) upload.resumeFromPreviousUpload(previous[0]);
      upload.start();
    });
  }

  function sendAll(files) {
    Array.prototype.forEach.call(files, send);
  }

  input.addEventListener("change", function () {
    sendAll(input.files);
    input.value = "";
  });
  zone.addEventListener("submit", function (event) {
    event.preventDefault();
  });
  ["dragenter", "dragover"].forEach(function (type) {
    zone.addEventListener(type, function (event) {
      event.preventDefault();
      zone.classList.add("over");
    });
  });
  ["dragleave", "drop"].forEach(function (type) {
    zone.addEventListener(type, function () {
      zone.classList.remove("over");
    });
  });
  zone.addEventListener("drop", function (event) {
    event.preventDefault();
    if (event.dataTransfer && event.dataTransfer.files.length) {
      sendAll(event.dataTransfer.files);
    }
  });
})();
