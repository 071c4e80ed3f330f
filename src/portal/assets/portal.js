// sandbank portal: small progressive enhancements; every page also works without it.
"use strict";
document.addEventListener("click", function (e) {
  var t = e.target.closest("button");
  if (!t) return;
  if (t.dataset.copy) {
    var el = document.getElementById(t.dataset.copy);
    if (el && navigator.clipboard) {
      navigator.clipboard.writeText(el.textContent).then(function () { t.textContent = "コピーしました Copied"; });
    }
  } else if (t.dataset.reveal) {
    var secret = document.getElementById(t.dataset.reveal);
    if (secret) {
      secret.hidden = !secret.hidden;
      t.setAttribute("aria-expanded", String(!secret.hidden));
      t.textContent = secret.hidden ? "表示 Reveal" : "隠す Hide";
    }
  } else if (t.id === "call-balance") {
    var out = document.getElementById("balance-answer");
    out.textContent = "…";
    fetch(t.dataset.url, { headers: { Authorization: "Bearer " + t.dataset.token, Accept: "application/json" } })
      .then(function (r) { return r.text().then(function (b) { return "HTTP " + r.status + "\n" + pretty(b); }); })
      .then(function (s) { out.textContent = s; }, function (err) { out.textContent = String(err); });
  }
});
function pretty(b) { try { return JSON.stringify(JSON.parse(b), null, 2); } catch (_) { return b; } }
// The request log follows new calls while the page is open.
(function () {
  var rows = document.getElementById("log-rows");
  var live = document.getElementById("live");
  if (!rows || !live) return;
  function newest() {
    var first = rows.querySelector("tr[data-id]");
    return first ? first.dataset.id : "0";
  }
  function poll() {
    if (!live.checked) return;
    fetch(rows.dataset.live + "&after=" + newest(), { headers: { Accept: "text/html" } })
      .then(function (r) {
        // Sent to the sign-in page: the session ended; stop following.
        if (r.redirected) { live.checked = false; return ""; }
        return r.ok ? r.text() : "";
      })
      .then(function (html) {
        if (!html) return;
        var tmp = document.createElement("tbody");
        tmp.innerHTML = html;
        var added = Array.prototype.slice.call(tmp.children);
        for (var i = added.length - 1; i >= 0; i--) rows.insertBefore(added[i], rows.firstChild);
        var empty = document.getElementById("log-empty");
        if (empty && added.length) empty.remove();
      }, function () {});
  }
  setInterval(poll, 2000);
})();
// Sign-up: a chosen YAML file is read into the text box the form sends.
(function () {
  var file = document.getElementById("yaml-file");
  var text = document.getElementById("yaml");
  if (!file || !text) return;
  file.addEventListener("change", function () {
    if (!file.files.length) return;
    file.files[0].text().then(function (t) { text.value = t; });
  });
})();
