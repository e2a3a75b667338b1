// The studio pages' behaviour: prompt counter, gallery previews, job notifications.
// Everything here is progressive: the pages work as plain links and forms without it.
(function () {
  "use strict";

  document.documentElement.classList.add("js");

  const on = window.seedanceOn;  // static/js/app.js, loaded before this file by base.html

  // --- Generate: the prompt's character counter ----------------------------------------

  const numbers = new Intl.NumberFormat();

  function updateCounter(textarea) {
    const counter = document.querySelector(textarea.dataset.promptCounter);
    if (!counter) return;
    const limits = document.getElementById("prompt-limits");
    const limit = limits && limits.dataset.limit ? parseInt(limits.dataset.limit, 10) : 0;
    const length = textarea.value.length;
    counter.textContent = numbers.format(length) + (limit ? " / " + numbers.format(limit) : "") + " characters";
    counter.classList.toggle("over", Boolean(limit) && length > limit);
    counter.classList.toggle("near", Boolean(limit) && length <= limit && length > limit * 0.9);
  }

  function updateAllCounters() {
    document.querySelectorAll("textarea[data-prompt-counter]").forEach(updateCounter);
  }

  on("input", "textarea[data-prompt-counter]", function (e, textarea) { updateCounter(textarea); });

  // --- Generate: the submit button follows the quote without losing a press ----------------

  // A quote that changes only the button's label (the variants) writes it into the button
  // that is there: a button replaced between mouse down and up makes no click. A button
  // that becomes disabled or enabled is replaced (a press on it should not count).
  document.addEventListener("htmx:oobBeforeSwap", function (e) {
    const row = e.detail.target;
    const fresh = row && row.id === "submit-row" && e.detail.fragment.querySelector("#submit-row");
    const button = fresh && row.querySelector("button");
    const next = fresh && fresh.querySelector("button");
    const key = row && row.querySelector("input[name=submit_key]");
    // The answer to a quote asked of a row that was redrawn since (a file's upload, a
    // submission's answer redraws the form): it says what an older form did.
    if (key && fresh && key.value !== fresh.dataset.was) {
      e.detail.shouldSwap = false;
      return;
    }
    if (!button || !next || button.disabled !== next.disabled) return;
    key.value = fresh.querySelector("input[name=submit_key]").value;
    button.textContent = next.textContent;
    e.detail.shouldSwap = false;
  });

  // Back (or reload) to Generate: the browser puts back the choices as they were (the
  // variants, the model...), but the quote and the button were drawn for the form the
  // server sent. Ask for the quote of the form as it stands.
  window.addEventListener("pageshow", function (e) {
    const entry = performance.getEntriesByType("navigation")[0];
    const again = entry && (entry.type === "back_forward" || entry.type === "reload");
    if (!window.htmx || !(e.persisted || again)) return;
    document.querySelectorAll("#generate-form .generate-grid").forEach(function (grid) {
      window.htmx.trigger(grid, "change");
    });
  });

  // --- Gallery and takes: a muted preview on hover, focus or a first tap ---------------------

  const HOVER = window.matchMedia("(hover: hover)");

  function previewHost(card) {
    return card.querySelector(".clip-thumb, .take-thumb") || card;
  }

  function startPreview(card) {
    const source = card.dataset.preview;
    const host = previewHost(card);
    if (!source || !host || host.querySelector("video")) return;
    const video = document.createElement("video");
    video.preload = "none";
    video.muted = true;
    video.loop = true;
    video.playsInline = true;
    video.setAttribute("aria-hidden", "true");
    video.className = "preview";
    video.src = source;
    host.appendChild(video);
    card.classList.add("previewing");
    const playing = video.play();
    if (playing && playing.catch) playing.catch(function () { stopPreview(card); });
  }

  function stopPreview(card) {
    const host = previewHost(card);
    const video = host && host.querySelector("video.preview");
    if (video) {
      video.pause();
      video.removeAttribute("src");
      video.load();
      video.remove();
    }
    card.classList.remove("previewing");
  }

  function previewCard(target) {
    if (!(target instanceof Element)) return null;
    const card = target.closest(".clip-card, .take-thumb");
    return card && card.dataset.preview ? card : null;
  }

  document.addEventListener("mouseover", function (e) {
    const card = previewCard(e.target);
    if (card && HOVER.matches && !card.contains(e.relatedTarget)) startPreview(card);
  });
  document.addEventListener("mouseout", function (e) {
    const card = previewCard(e.target);
    if (card && !card.contains(e.relatedTarget)) stopPreview(card);
  });
  document.addEventListener("focusin", function (e) {
    const card = previewCard(e.target);
    if (card) startPreview(card);
  });
  document.addEventListener("focusout", function (e) {
    const card = previewCard(e.target);
    if (card && !card.contains(e.relatedTarget)) stopPreview(card);
  });
  // On a touch screen the first tap on a poster previews it, the second opens the clip.
  let touched = false;
  document.addEventListener("pointerdown", function (e) { touched = e.pointerType === "touch"; });
  on("click", ".clip-thumb, .take-thumb", function (e, thumb) {
    const card = previewCard(thumb);
    if (!card || !touched || HOVER.matches) return;
    if (!card.classList.contains("previewing")) {
      e.preventDefault();
      document.querySelectorAll(".previewing").forEach(stopPreview);
      startPreview(card);
    }
  });

  // --- Jobs: tell me when one of mine finishes ---------------------------------------------

  const FINISHED = ["succeeded", "failed", "cancelled", "expired"];
  const seen = new Map(); // job uuid -> the state last shown
  const ENDED = { failed: "failed", cancelled: "was cancelled", expired: "expired" };

  function remember(root) {
    const cards = [];
    if (root.matches && root.matches("[data-job]")) cards.push(root);
    if (root.querySelectorAll) root.querySelectorAll("[data-job]").forEach(function (c) { cards.push(c); });
    cards.forEach(function (card) {
      const before = seen.get(card.dataset.job);
      const now = card.dataset.state;
      seen.set(card.dataset.job, now);
      if (before && before !== now && !FINISHED.includes(before) && FINISHED.includes(now)) {
        finished(card);
      }
    });
  }

  function finished(card) {
    if (card.dataset.mine !== "true" || card.dataset.cancelledHere === "true") return;
    const ok = card.dataset.state === "succeeded";
    const ended = ENDED[card.dataset.state] || card.dataset.stateLabel.toLowerCase();
    const message = (ok ? "Your clip is ready: " : "Your job " + ended + ": ") +
      "“" + card.dataset.summary + "”";
    if (window.seedanceToast) window.seedanceToast(message, ok ? "success" : "error");
    if ("Notification" in window && Notification.permission === "granted") {
      const link = card.querySelector(".job-title a");
      const note = new Notification(ok ? "Clip ready" : "Job " + card.dataset.stateLabel.toLowerCase(), {
        body: card.dataset.summary,
        tag: "seedance-" + card.dataset.job,
        icon: (document.querySelector('link[rel="icon"]') || {}).href,
      });
      note.onclick = function () {
        window.focus();
        if (link) window.location.href = link.href;
      };
    }
  }

  function showNotificationButtons() {
    const can = "Notification" in window && Notification.permission === "default";
    document.querySelectorAll("[data-enable-notifications]").forEach(function (button) {
      button.hidden = !can;
    });
  }

  on("click", "[data-enable-notifications]", function () {
    if (!("Notification" in window)) return;
    Notification.requestPermission().then(function (permission) {
      showNotificationButtons();
      if (window.seedanceToast) {
        window.seedanceToast(
          permission === "granted"
            ? "You'll get a notification when one of your jobs finishes."
            : "Notifications stay off; finished jobs still show here.",
          "info"
        );
      }
    });
  });

  // A polled card is replaced every two seconds: keep its timeline open if it was.
  const openTimelines = new Set();
  on("toggle", "details[data-keep-open]", function (e, details) {
    if (details.open) openTimelines.add(details.dataset.keepOpen);
    else openTimelines.delete(details.dataset.keepOpen);
  }, true);

  function reopen(root) {
    if (!root.querySelectorAll) return;
    root.querySelectorAll("details[data-keep-open]").forEach(function (details) {
      if (openTimelines.has(details.dataset.keepOpen)) details.open = true;
    });
  }

  // --- wiring -----------------------------------------------------------------------------

  document.addEventListener("DOMContentLoaded", function () {
    // A timeline the page opens itself (a job's own page) stays open while its card is
    // polled: no toggle event is heard for it.
    document.querySelectorAll("details[data-keep-open][open]").forEach(function (details) {
      openTimelines.add(details.dataset.keepOpen);
    });
    updateAllCounters();
    showNotificationButtons();
    remember(document);
  });

  // htmx:load fires for every piece of content htmx puts into the page.
  document.addEventListener("htmx:load", function (e) {
    const root = e.target;
    reopen(root);
    remember(root);
    if (root.id === "prompt-limits" || root.querySelector && root.querySelector("#prompt-limits")) {
      updateAllCounters();
    }
    if (root.querySelector && root.querySelector("[data-enable-notifications]")) showNotificationButtons();
  });
})();
