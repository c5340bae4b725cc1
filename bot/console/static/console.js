/* The console's only script of its own (the Content-Security-Policy allows no inline script).
   It alerts staff to new conversations (title and an optional sound), keeps the transcript
   scrolled to the newest message, and inserts canned replies. Nothing is stored in the browser
   except the sound on/off choice. */
(function () {
  "use strict";
  var baseTitle = document.title;
  var lastWaiting = null;
  var unseen = 0;

  function soundOn() { return window.localStorage.getItem("console-sound") === "on"; }

  function showSound() {
    var button = document.querySelector("[data-sound-toggle]");
    if (button) { button.setAttribute("aria-pressed", soundOn() ? "true" : "false"); }
  }

  function beep() {
    try {
      var Ctx = window.AudioContext || window.webkitAudioContext;
      var ctx = new Ctx();
      var osc = ctx.createOscillator();
      var gain = ctx.createGain();
      osc.frequency.value = 880;
      gain.gain.value = 0.08;
      osc.connect(gain);
      gain.connect(ctx.destination);
      osc.start();
      osc.stop(ctx.currentTime + 0.25);
    } catch (e) { /* no audio: the title still changes */ }
  }

  function alertNew(count) {
    unseen += count;
    var label = document.body.getAttribute("data-new-title") || "New";
    document.title = "(" + unseen + ") " + label + " · " + baseTitle;
    if (soundOn()) { beep(); }
  }

  function seen() {
    if (unseen) { unseen = 0; document.title = baseTitle; }
  }

  document.addEventListener("visibilitychange", function () { if (!document.hidden) { seen(); } });
  document.addEventListener("keydown", seen);
  document.addEventListener("click", function (event) {
    var target = event.target;
    if (target && target.matches && target.matches("[data-sound-toggle]")) {
      window.localStorage.setItem("console-sound", soundOn() ? "off" : "on");
      showSound();
      if (soundOn()) { beep(); }
      return;
    }
    seen();
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    var badge = document.querySelector("#queue-count [data-waiting]");
    if (badge) {
      var waiting = parseInt(badge.getAttribute("data-waiting"), 10) || 0;
      if (lastWaiting !== null && waiting > lastWaiting) { alertNew(waiting - lastWaiting); }
      lastWaiting = waiting;
    }
    var messages = document.getElementById("messages");
    if (messages && event.target === messages) { messages.scrollTop = messages.scrollHeight; }
  });

  document.addEventListener("change", function (event) {
    var select = event.target;
    if (!select || !select.matches || !select.matches("select[data-canned]")) { return; }
    var option = select.options[select.selectedIndex];
    var area = document.getElementById(select.getAttribute("data-canned"));
    if (option && area && option.getAttribute("data-text")) {
      var text = option.getAttribute("data-text");
      area.value = area.value ? area.value + "\n" + text : text;
      area.focus();
    }
    select.selectedIndex = 0;
  });

  document.addEventListener("DOMContentLoaded", function () {
    showSound();
    var messages = document.getElementById("messages");
    if (messages) { messages.scrollTop = messages.scrollHeight; }
  });
})();
