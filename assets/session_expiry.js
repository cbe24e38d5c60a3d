/* When a session ends (logout elsewhere, expiry, a disabled user, a revoked wall token),
   the server answers the page's callbacks with 401. Reload once, so the browser goes to
   the login page (or the wall shows that its link was revoked) instead of leaving stale
   figures on screen. */
(function () {
  if (!window.fetch || window.__jjSessionWatch) { return; }
  window.__jjSessionWatch = true;
  var original = window.fetch.bind(window);
  var reloading = false;
  window.fetch = function () {
    return original.apply(null, arguments).then(function (resp) {
      if (resp.status === 401 && !reloading && String(resp.url).indexOf("/_dash-") !== -1) {
        reloading = true;
        window.setTimeout(function () { window.location.reload(); }, 500);
      }
      return resp;
    });
  };
})();
