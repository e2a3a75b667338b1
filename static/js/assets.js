// Assets: drag-and-drop uploads with progress, the Generate page's slots per mode, and
// the clip page's playhead. Every form here also works as a plain form without it.
(function () {
  "use strict";

  const on = window.seedanceOn;  // static/js/app.js

  // --- Generate: only the slots of the chosen mode are shown ----------------------------

  function showSlots(section) {
    const checked = section.querySelector("input[data-mode-choice]:checked");
    const mode = checked ? checked.value : "text";
    section.dataset.mode = mode;
    section.querySelectorAll("[data-slot]").forEach(function (slot) {
      slot.hidden = slot.dataset.modes.split(" ").indexOf(mode) === -1;
    });
  }

  function showAllSlots() { document.querySelectorAll("#inputs").forEach(showSlots); }

  on("change", "input[data-mode-choice]", function (e, input) {
    showSlots(input.closest("#inputs"));
  });
  document.addEventListener("DOMContentLoaded", showAllSlots);
  document.addEventListener("htmx:afterSwap", showAllSlots);

  // A file dropped on a slot goes into its file input, which uploads it (htmx).
  on("dragover", "[data-drop], [data-asset-upload]", function (e, zone) {
    e.preventDefault();
    zone.classList.add("dragging");
  });
  on("dragleave", "[data-drop], [data-asset-upload]", function (e, zone) {
    zone.classList.remove("dragging");
  });
  on("drop", "[data-drop]", function (e, zone) {
    e.preventDefault();
    zone.classList.remove("dragging");
    const input = zone.querySelector("input[type=file]");
    if (!input || !e.dataTransfer.files.length) return;
    input.files = e.dataTransfer.files;
    input.dispatchEvent(new Event("change", { bubbles: true }));
  });

  document.addEventListener("htmx:xhr:progress", function (e) {
    const bar = e.target.closest && e.target.closest("[data-drop]");
    const progress = bar && bar.querySelector("progress");
    if (!progress || !e.detail.lengthComputable) return;
    progress.hidden = false;
    progress.value = Math.round(e.detail.loaded / e.detail.total * 100);
  });

  // An upload refused whole (413) is not swapped in: say why beside its slot.
  document.addEventListener("htmx:responseError", function (e) {
    const zone = e.target.closest && e.target.closest("[data-drop]");
    if (!zone || e.detail.xhr.status !== 413) return;
    const note = document.createElement("p");
    note.className = "error";
    note.textContent = e.detail.xhr.responseText;
    zone.after(note);
  });

  // --- The library: several files at once, each with its own progress ------------------

  // One at a time, so each answer's list is the newest.
  function uploadOne(form, file) {
    return new Promise(function (done) { sendOne(form, file, done); });
  }

  function sendOne(form, file, done) {
    const list = form.querySelector("[data-progress]");
    const row = document.createElement("li");
    const bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    row.textContent = file.name + " ";
    row.appendChild(bar);
    list.appendChild(row);
    const body = new FormData();
    body.append("csrfmiddlewaretoken", form.querySelector("[name=csrfmiddlewaretoken]").value);
    body.append("files", file);
    const request = new XMLHttpRequest();
    request.open("POST", form.action);
    request.setRequestHeader("HX-Request", "true");
    request.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) bar.value = Math.round(e.loaded / e.total * 100);
    });
    request.addEventListener("load", function () {
      row.remove();
      const holder = document.createElement("div");
      holder.innerHTML = request.responseText;
      const results = document.querySelector(form.dataset.results);
      const fresh = holder.querySelector("#upload-results");
      if (!fresh && results) {
        // Not the page's answer: the upload cap's 413 (its words are plain text) or
        // another refusal before the view. Say so beside the file, never nothing.
        const note = document.createElement("p");
        note.className = "error";
        const strong = document.createElement("strong");
        strong.textContent = file.name + ": refused.";
        note.appendChild(strong);
        note.append(" " + (request.status === 413 ? request.responseText
          : "The upload failed (HTTP " + request.status + "); try again."));
        results.appendChild(note);
        done();
        return;
      }
      if (results && fresh) results.append.apply(results, Array.from(fresh.childNodes));
      const listing = document.querySelector(form.dataset.list);
      const list = holder.querySelector(form.dataset.list);
      if (listing && list) listing.replaceWith(list);
      done();
    });
    request.addEventListener("error", function () {
      row.textContent = file.name + ": the upload failed.";
      done();
    });
    request.send(body);
  }

  function uploadAll(form, files) {
    Array.from(files).reduce(function (previous, file) {
      return previous.then(function () { return uploadOne(form, file); });
    }, Promise.resolve());
  }

  on("submit", "form[data-asset-upload]", function (e, form) {
    const input = form.querySelector("input[type=file]");
    if (!input.files.length) return;
    e.preventDefault();
    uploadAll(form, input.files);
    input.value = "";
  });
  on("drop", "form[data-asset-upload]", function (e, form) {
    e.preventDefault();
    form.classList.remove("dragging");
    uploadAll(form, e.dataTransfer.files);
  });

  // --- A clip: "the frame at the playhead" follows the player ---------------------------

  on("submit", "form[data-playhead-form]", function (e, form) {
    const video = document.querySelector(".player video");
    const at = form.querySelector("[data-playhead]");
    if (video && at) at.value = video.currentTime.toFixed(3);
  });
})();
