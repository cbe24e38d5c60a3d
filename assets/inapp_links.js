// In-app links inside tables, feeds, popups and panels navigate like dcc.Link
// (a history entry, no page reload); modified or middle clicks and links with a
// target other than _self (AG Grid markdown links carry _self) keep the browser's
// behaviour. One listener for every page.
(function () {
    var SELECTOR = [
        '.region-grid a[href]',                                       // /region child table
        '.risk-grid a[href]', '.risk-feed a[href]', '.risk-details a[href]',
        '.risk-fanout a[href]', '.risk-popup a[href]',                // /risk
    ].join(', ');
    document.addEventListener('click', function (ev) {
        if (ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) {
            return;
        }
        var a = ev.target.closest && ev.target.closest(SELECTOR);
        if (!a || a.origin !== window.location.origin || (a.target && a.target !== '_self')) { return; }
        ev.preventDefault();
        window.history.pushState({}, '', a.getAttribute('href'));
        window.dispatchEvent(new CustomEvent('_dashprivate_pushstate'));
        window.scrollTo(0, 0);
    }, true);
})();
