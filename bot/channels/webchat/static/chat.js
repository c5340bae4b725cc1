/* The web chat page. No framework, no storage: the chat's token lives in this closure only, so
   closing or reloading the tab ends the chat, and nothing of it stays in the browser.
   docs/webchat.md explains each choice. */
(function () {
  "use strict";
  var body = document.body;
  var d = body.dataset;
  var base = d.base;
  var log = document.getElementById("log");
  var form = document.getElementById("composer");
  var input = document.getElementById("text");
  var send = document.getElementById("send");
  var statusLine = document.getElementById("status");
  var endedBox = document.getElementById("ended");
  var token = null;
  var ended = false;
  var reader = null;

  function say(text) { statusLine.textContent = text || ""; }

  function randomId() {
    var bytes = new Uint8Array(12);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  function bubble(mine, text, buttons, id) {
    var item = document.createElement("li");
    item.className = "msg " + (mine ? "me" : "them");
    if (id) { item.dataset.id = id; }
    var who = document.createElement("span");
    who.className = "who";
    who.textContent = (mine ? d.tYou : d.tThem) + ": ";
    item.appendChild(who);
    item.appendChild(document.createTextNode(text));
    if (buttons && buttons.length) {
      var choices = document.createElement("div");
      choices.className = "choices";
      buttons.forEach(function (b) {
        var button = document.createElement("button");
        button.type = "button";
        button.textContent = b.title;
        button.addEventListener("click", function () { submit(null, b.data, b.title); });
        choices.appendChild(button);
      });
      item.appendChild(choices);
    }
    log.appendChild(item);
    item.scrollIntoView({block: "end"});
  }

  function enable(on) {
    input.disabled = !on;
    send.disabled = !on;
  }

  function end() {
    ended = true;
    token = null;
    if (reader) { reader.cancel().catch(function () {}); }
    enable(false);
    say("");
    endedBox.hidden = false;
  }

  function post(path, data, keepalive) {
    return fetch(base + path, {
      method: "POST",
      headers: {"content-type": "application/json", "x-chat-token": token || ""},
      body: JSON.stringify(data),
      credentials: "omit",
      cache: "no-store",
      keepalive: !!keepalive
    });
  }

  function submit(text, payload, label) {
    if (!token || ended) { return; }
    var id = randomId();
    var message = {id: id};
    if (payload) { message.payload = payload; } else { message.text = text; }
    bubble(true, label || text, null, id);
    post("/send", message).then(function (response) {
      if (response.status === 410) { end(); return; }
      if (response.status === 429) { say(d.tTooFast); return; }
      if (!response.ok) { say(d.tBusy); }
    }).catch(function () { say(d.tOffline); });
  }

  function handle(kind, data) {
    if (kind === "message") {
      bubble(false, data.text, data.buttons);
    } else if (kind === "forget") {
      var mine = log.querySelector('li[data-id="' + String(data.id).replace(/[^0-9a-f]/g, "") + '"]');
      if (mine) { mine.remove(); }
    } else if (kind === "erase") {
      log.textContent = "";
      end();
    }
  }

  function parse(block) {
    var kind = "message";
    var data = "";
    block.split("\n").forEach(function (line) {
      if (line.indexOf("event: ") === 0) { kind = line.slice(7); }
      if (line.indexOf("data: ") === 0) { data += line.slice(6); }
    });
    if (data) { handle(kind, JSON.parse(data)); }
  }

  async function listen() {
    var decoder = new TextDecoder();
    while (token && !ended) {
      try {
        var response = await fetch(base + "/stream", {
          headers: {"x-chat-token": token}, credentials: "omit", cache: "no-store"
        });
        if (response.status === 410) { end(); return; }
        if (!response.ok || !response.body) { throw new Error("stream"); }
        say(d.tConnected);
        enable(true);
        reader = response.body.getReader();
        var buffer = "";
        for (;;) {
          var chunk = await reader.read();
          if (chunk.done) { break; }
          buffer += decoder.decode(chunk.value, {stream: true});
          var cut;
          while ((cut = buffer.indexOf("\n\n")) >= 0) {
            parse(buffer.slice(0, cut));
            buffer = buffer.slice(cut + 2);
          }
        }
      } catch (error) {
        if (ended) { return; }
        say(d.tOffline);
      }
      await new Promise(function (resolve) { setTimeout(resolve, 1000); });
    }
  }

  async function start() {
    ended = false;
    endedBox.hidden = true;
    log.textContent = "";
    say(d.tConnecting);
    try {
      var response = await fetch(base + "/session", {
        method: "POST",
        headers: {"content-type": "application/json"},
        body: JSON.stringify({language: d.lang}),
        credentials: "omit",
        cache: "no-store"
      });
      if (!response.ok) { say(response.status === 429 ? d.tTooFast : d.tBusy); return; }
      token = (await response.json()).token;
    } catch (error) {
      say(d.tOffline);
      return;
    }
    listen();
    input.focus();
  }

  /* Quick exit: tell the server (the exit word, through the inbox), forget everything, and
     replace this page (and its history entry) with the neutral site. In an <iframe>, the
     embedding page is asked to do the same for the whole tab (docs/webchat.md). */
  function quickExit() {
    var url = d.exitUrl;
    if (token) {
      try { post("/exit", {token: token}, true).catch(function () {}); } catch (error) { /* gone */ }
    }
    token = null;
    ended = true;
    log.textContent = "";
    input.value = "";
    if (window.top !== window.self) {
      (d.parents || "").split(" ").forEach(function (origin) {
        if (origin) { window.parent.postMessage({type: "safe-harbour-exit", url: url}, origin); }
      });
      try { window.top.location.replace(url); } catch (error) { /* the embedding page does it */ }
    }
    window.location.replace(url);
  }

  document.getElementById("quick-exit").addEventListener("click", quickExit);
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" || event.key === "Esc") { event.preventDefault(); quickExit(); }
  });
  document.getElementById("restart").addEventListener("click", start);
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text) { return; }
    input.value = "";
    submit(text);
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  window.addEventListener("pagehide", function () {
    if (token && d.endOnClose === "1") {
      navigator.sendBeacon(base + "/end", new Blob([JSON.stringify({token: token})],
        {type: "text/plain"}));
    }
    token = null;
  });
  start();
})();
