/* Functions the dash-ag-grid tables call by name (components/tables.py).
 * Local only: nothing here loads anything from the network. */
var dagfuncs = (window.dashAgGridFunctions = window.dashAgGridFunctions || {});

/* A cell of a browser CSV export (csvExportParams.processCellCallback): the text the grid
 * shows (its value formatter applied), with a leading ' when a spreadsheet would run it as a
 * formula — it starts with = + - @, a tab or a carriage return and is not a plain number
 * (OWASP CSV injection; the server's exports follow the same rule, domain/cells.py). */
dagfuncs.csvSafeCell = function (params) {
    var v = params.formatValue ? params.formatValue(params.value) : params.value;
    if (typeof v === "string" && /^[=+\-@\t\r]/.test(v) && !/^[+-]?\d[\d,]*(\.\d+)?%?$/.test(v)) {
        return "'" + v;
    }
    return v;
};
