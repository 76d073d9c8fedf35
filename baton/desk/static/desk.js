// Reloads an open page when what it shows has changed (short polling of /changes:
// one query of the store, never of Temporal). A form being filled in is not lost:
// the page then only says that it changed.
(function () {
  const body = document.body;
  const page = body.dataset.page;
  const seen = body.dataset.fingerprint;
  const every = Number(body.dataset.poll) || 5000;
  if (!seen) return;
  function typing() {
    const el = document.activeElement;
    return el && ["TEXTAREA", "INPUT", "SELECT"].includes(el.tagName) && el.value;
  }
  setInterval(async function () {
    if (document.hidden) return;
    try {
      const answer = await fetch("/changes?page=" + encodeURIComponent(page), {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if (!answer.ok) return;
      const now = (await answer.json()).fingerprint;
      if (now === seen) return;
      if (typing()) document.getElementById("changed").hidden = false;
      else window.location.reload();
    } catch (err) {
      // the desk is restarting: ask again next time
    }
  }, every);
})();
