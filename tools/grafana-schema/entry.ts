// The Grafana types our dashboards must satisfy, gathered so one generator run emits them all.
import type { Dashboard as RawDashboard } from "@grafana/schema/dist/types/raw/dashboard/x/types.gen";
import type * as timeseries from "@grafana/schema/dist/types/raw/composable/timeseries/panelcfg/x/types.gen";
import type * as stat from "@grafana/schema/dist/types/raw/composable/stat/panelcfg/x/types.gen";
import type * as gauge from "@grafana/schema/dist/types/raw/composable/gauge/panelcfg/x/types.gen";
import type * as bargauge from "@grafana/schema/dist/types/raw/composable/bargauge/panelcfg/x/types.gen";
import type * as piechart from "@grafana/schema/dist/types/raw/composable/piechart/panelcfg/x/types.gen";
import type * as table from "@grafana/schema/dist/types/raw/composable/table/panelcfg/x/types.gen";

export type GrafanaDashboard = RawDashboard;
export type GrafanaTimeseriesOptions = timeseries.Options;
export type GrafanaTimeseriesFieldConfig = timeseries.FieldConfig;
export type GrafanaStatOptions = stat.Options;
export type GrafanaGaugeOptions = gauge.Options;
export type GrafanaBargaugeOptions = bargauge.Options;
export type GrafanaPiechartOptions = piechart.Options;
export type GrafanaPiechartFieldConfig = piechart.FieldConfig;
export type GrafanaTableOptions = table.Options;
export type GrafanaTableFieldConfig = table.FieldConfig;
