// Waiting-room display: a clock in the office's time, the calls polled from the feed and
// updated without a reload, a chime on a new call and, if the office wants it, the call said
// aloud in its languages once someone has turned the sound on.
(function () {
  "use strict";
  var main = document.querySelector("[data-feed]");
  if (!main) { return; }
  var url = main.getAttribute("data-feed");
  var calls = document.getElementById("calls");
  var history = document.getElementById("history");
  var clock = document.getElementById("clock");
  var announcement = document.getElementById("announcement");
  var soundButton = document.getElementById("sound-on");
  // How long a new call stands out, in milliseconds.
  var HIGHLIGHT_MS = 10000;
  var seen = {};
  var rows = calls.querySelectorAll("tr[data-key]");
  rows.forEach(function (row) { seen[row.getAttribute("data-key")] = true; });
  // The server's clock less the screen's, and the office's offset from UTC: the clock shows
  // the office's time whatever the screen's computer thinks.
  var skew = Number(main.getAttribute("data-now-ms")) - Date.now();
  var offsetMinutes = Number(main.getAttribute("data-utc-offset")) || 0;
  var soundOn = false;
  // What each table shows; a table is rebuilt only when this changes.
  function shownOf(body) {
    return Array.prototype.map.call(body.querySelectorAll("tr[data-key]"), function (row) {
      return [row.getAttribute("data-key"), row.cells[0].textContent, row.cells[1].textContent].join("|");
    }).join("\n");
  }
  var shownCalls = shownOf(calls);
  var shownHistory = shownOf(history);

  function signature(list) {
    return list.map(function (call) { return [call.key, call.ticket, call.desk].join("|"); }).join("\n");
  }

  function two(number) { return (number < 10 ? "0" : "") + number; }

  function tick() {
    var local = new Date(Date.now() + skew + offsetMinutes * 60000);
    var text = two(local.getUTCHours()) + ":" + two(local.getUTCMinutes());
    if (clock.textContent !== text) { clock.textContent = text; }
    var now = Date.now();
    calls.querySelectorAll("tr.new-call").forEach(function (row) {
      if (Number(row.getAttribute("data-until")) <= now) { row.classList.remove("new-call"); }
    });
  }

  function chime() {
    try {
      var context = new (window.AudioContext || window.webkitAudioContext)();
      [660, 880].forEach(function (frequency, index) {
        var oscillator = context.createOscillator();
        var gain = context.createGain();
        oscillator.frequency.value = frequency;
        oscillator.connect(gain);
        gain.connect(context.destination);
        var start = context.currentTime + index * 0.35;
        gain.gain.setValueAtTime(0.3, start);
        gain.gain.exponentialRampToValueAtTime(0.001, start + 0.3);
        oscillator.start(start);
        oscillator.stop(start + 0.32);
      });
    } catch (error) { /* no audio: the screen still updates */ }
  }

  // A voice for the language: the exact tag (ko-KR), else one of the language (ko).
  function voiceFor(lang) {
    var voices = window.speechSynthesis.getVoices() || [];
    var base = lang.split("-")[0].toLowerCase();
    var exact = null;
    var near = null;
    voices.forEach(function (voice) {
      var tag = (voice.lang || "").replace("_", "-").toLowerCase();
      if (!exact && tag === lang.toLowerCase()) { exact = voice; }
      if (!near && tag.split("-")[0] === base) { near = voice; }
    });
    return exact || near;
  }

  function say(call) {
    if (!soundOn || !("speechSynthesis" in window)) { return; }
    (call.speech || []).forEach(function (sentence) {
      var utterance = new window.SpeechSynthesisUtterance(sentence.text);
      utterance.lang = sentence.lang;
      var voice = voiceFor(sentence.lang);
      if (voice) { utterance.voice = voice; }
      window.speechSynthesis.speak(utterance);
    });
  }

  function row(call) {
    var tr = document.createElement("tr");
    tr.setAttribute("data-key", call.key);
    var ticket = document.createElement("td");
    ticket.textContent = call.ticket;
    var desk = document.createElement("td");
    desk.textContent = call.desk;
    tr.appendChild(ticket);
    tr.appendChild(desk);
    return tr;
  }

  function renderCalls(feed) {
    var until = {};
    calls.querySelectorAll("tr.new-call").forEach(function (old) {
      until[old.getAttribute("data-key")] = old.getAttribute("data-until");
    });
    var fresh = [];
    calls.textContent = "";
    feed.calls.forEach(function (call, index) {
      var tr = row(call);
      if (!seen[call.key]) {
        seen[call.key] = true;
        fresh.push(call);
        until[call.key] = String(Date.now() + HIGHLIGHT_MS);
      }
      if (until[call.key]) {
        tr.classList.add("new-call");
        tr.setAttribute("data-until", until[call.key]);
      }
      if (index === 0) { tr.classList.add("latest"); }
      calls.appendChild(tr);
    });
    if (fresh.length) {
      chime();
      // Oldest first, as they were called.
      fresh.reverse();
      announcement.textContent = fresh.map(function (call) { return call.text; }).join(" ");
      fresh.forEach(say);
    }
  }

  function render(feed) {
    var now = signature(feed.calls);
    if (now !== shownCalls) {
      shownCalls = now;
      renderCalls(feed);
    }
    var before = signature(feed.history || []);
    if (before !== shownHistory) {
      shownHistory = before;
      history.textContent = "";
      feed.history.forEach(function (call) { history.appendChild(row(call)); });
    }
    skew = feed.now_ms - Date.now();
    offsetMinutes = feed.utc_offset_minutes;
    tick();
    // The server writes the sentences, in the screen's language and with plurals.
    document.getElementById("waiting").textContent = feed.waiting_text;
    document.getElementById("wait").textContent = feed.wait_text;
  }

  function poll() {
    fetch(url, { cache: "no-store" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (feed) { if (feed) { render(feed); } })
      .catch(function () { /* try again at the next tick */ })
      .finally(function () { window.setTimeout(poll, 3000); });
  }

  // Browsers keep a page silent until someone interacts with it: one press unlocks speech.
  if (soundButton && "speechSynthesis" in window) {
    soundButton.hidden = false;
    soundButton.addEventListener("click", function () {
      soundOn = true;
      window.speechSynthesis.speak(new window.SpeechSynthesisUtterance(""));
      soundButton.hidden = true;
      document.documentElement.setAttribute("data-sound", "on");
    });
  }
  window.setInterval(tick, 1000);
  window.setTimeout(poll, 3000);
})();
