// Waiting-room display: poll the feed, update the calls without a reload, chime on a new call.
(function () {
  "use strict";
  var main = document.querySelector("[data-feed]");
  if (!main) { return; }
  var url = main.getAttribute("data-feed");
  var calls = document.getElementById("calls");
  var seen = {};
  var rows = calls.querySelectorAll("tr[data-key]");
  rows.forEach(function (row) { seen[row.getAttribute("data-key")] = true; });
  // What the table shows; it is rebuilt only when this changes, because the table is a live
  // region and a screen reader would read every row out again at each poll.
  var shown = Array.prototype.map.call(rows, function (row) {
    return [row.getAttribute("data-key"), row.cells[0].textContent, row.cells[1].textContent].join("|");
  }).join("\n");

  function signature(feed) {
    return feed.calls.map(function (call) { return [call.key, call.ticket, call.desk].join("|"); }).join("\n");
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

  function renderCalls(feed) {
    var fresh = false;
    calls.textContent = "";
    feed.calls.forEach(function (call, index) {
      var row = document.createElement("tr");
      row.setAttribute("data-key", call.key);
      if (!seen[call.key]) { fresh = true; seen[call.key] = true; row.className = "new-call"; }
      if (index === 0) { row.className += " latest"; }
      var ticket = document.createElement("td");
      ticket.textContent = call.ticket;
      var desk = document.createElement("td");
      desk.textContent = call.desk;
      row.appendChild(ticket);
      row.appendChild(desk);
      calls.appendChild(row);
    });
    if (fresh) { chime(); }
  }

  function render(feed) {
    var now = signature(feed);
    if (now !== shown) {
      shown = now;
      renderCalls(feed);
    }
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
  window.setTimeout(poll, 3000);
})();
